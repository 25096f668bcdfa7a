"""Input checks on a small schema of its own (no Telco column): one record and a table
give the same verdicts, every problem is named by field and code, and the policy for
unseen categories is the dataset's."""

import math

import numpy as np
import pandas as pd
import pytest

from lib.model.frame_validation import validate_frame
from lib.model.schema import FeatureSchema
from lib.model.validation import MissingColumns, validate_record


def schema(unknown: str = "warn") -> FeatureSchema:
    numeric = {"kind": "numeric", "categories": None, "nullable": False}
    return FeatureSchema.from_json(
        {
            "target": "bought",
            "positive_label": "yes",
            "negative_label": "no",
            "id_columns": ["order_ref"],
            "unknown_categories": unknown,
            "features": [
                {**numeric, "name": "age", "dtype": "int64", "default": 40, "min": 18, "max": 90,
                 "hard_min": 0, "hard_max": 130},
                {**numeric, "name": "basket", "dtype": "float64", "default": 20.0, "min": 0.5, "max": 300.0,
                 "hard_min": 0, "hard_max": 10_000, "nullable": True},
                {"name": "channel", "kind": "categorical", "dtype": "object", "default": "web", "nullable": False,
                 "min": None, "max": None, "hard_min": None, "hard_max": None, "categories": ["shop", "web"]},
            ],
        }
    )  # fmt: skip


def codes(problems):
    return sorted((p.field, p.code) for p in problems)


@pytest.mark.parametrize(
    ("changes", "errors", "warnings"),
    [
        ({}, [], []),
        ({"age": 95}, [], [("age", "outside_training_range")]),
        ({"age": 131}, [("age", "out_of_bounds")], []),
        ({"age": 40.5}, [], [("age", "not_whole")]),
        ({"age": "40"}, [("age", "wrong_type")], []),
        ({"age": True}, [("age", "wrong_type")], []),
        ({"age": None}, [("age", "missing")], []),
        ({"basket": None}, [], [("basket", "imputed")]),
        ({"basket": math.inf}, [("basket", "not_finite")], []),
        ({"age": 10**400}, [("age", "out_of_bounds")], []),
        ({"channel": "phone"}, [], [("channel", "unseen_category")]),
        ({"channel": 3}, [("channel", "wrong_type")], []),
        ({"channel": "w" * 10_000}, [("channel", "too_long")], []),
        ({"order_ref": "A1"}, [], []),  # an id column is expected, not reported
        ({"coupon": "X"}, [], [("coupon", "ignored_fields")]),
    ],
)
def test_each_problem_of_one_record_is_named_by_field_and_code(changes, errors, warnings):
    record = {"age": 40, "basket": 20.0, "channel": "web", **changes}
    values, found_errors, found_warnings = validate_record(record, schema())
    assert (codes(found_errors), codes(found_warnings)) == (errors, warnings)
    if not errors:
        assert set(values) == {"age", "basket", "channel"}


def test_a_missing_field_and_a_non_object_are_errors():
    _, errors, _ = validate_record({"age": 40}, schema())
    assert codes(errors) == [("basket", "missing"), ("channel", "missing")]
    _, errors, _ = validate_record(["age", 40], schema())
    assert errors[0].code == "wrong_type" and "a list" in errors[0].message


def test_the_dataset_can_refuse_unseen_categories():
    _, errors, warnings = validate_record({"age": 40, "basket": 1.0, "channel": "phone"}, schema("reject"))
    assert codes(errors) == [("channel", "unknown_category")] and not warnings


def test_a_table_gets_the_same_verdicts_as_its_rows_one_by_one():
    rows = [
        {"age": 40, "basket": 20.0, "channel": "web"},
        {"age": 131, "basket": 20.0, "channel": "shop"},
        {"age": 95, "basket": None, "channel": "phone"},
        {"age": 30, "basket": 1.5, "channel": None},
    ]
    table = pd.DataFrame(rows).astype({"basket": float})
    encoded, errors, warnings = validate_frame(table, schema())
    for position, record in enumerate(rows):
        _, record_errors, record_warnings = validate_record(record, schema())
        assert codes(errors.get(position, [])) == codes(record_errors)
        assert codes(warnings.get(position, [])) == codes(record_warnings)
    # categories as codes: k < K known, K unseen, K + 1 missing
    np.testing.assert_array_equal(encoded.codes["channel"], [1, 0, 2, 3])
    assert np.isnan(encoded.numbers["basket"][2]) and encoded.rows == 4


def test_text_in_a_numeric_column_is_parsed_as_a_csv_reader_would():
    table = pd.DataFrame({"age": [" 41 ", "forty"], "basket": ["2.5", ""], "channel": ["web", "web"]})
    encoded, errors, warnings = validate_frame(table, schema())
    assert encoded.numbers["age"][0] == 41 and codes(errors[1]) == [("age", "wrong_type")]
    assert codes(warnings[1]) == [("basket", "imputed")]


def test_a_table_without_a_feature_column_is_refused_whole():
    with pytest.raises(MissingColumns, match="missing column: channel"):
        validate_frame(pd.DataFrame({"age": [40], "basket": [1.0]}), schema())
