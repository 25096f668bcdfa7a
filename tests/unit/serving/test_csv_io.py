"""Reading uploaded CSVs: separators, encodings, text kept as written, clear refusals."""

import pytest

from lib.model.inference import score_batch
from lib.serving.csv_io import CsvError, read_csv_bytes, sniff_separator
from lib.settings import PROJECT_ROOT


def test_bundled_dataset_reads_and_scores_every_row(telco_model):
    raw = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes()
    frame = read_csv_bytes(raw, telco_model.schema)
    batch = score_batch(frame, telco_model)
    assert len(batch.table) == 7043 and not batch.errors
    imputed = [p for problems in batch.warnings.values() for p in problems if p.code == "imputed"]
    assert len(imputed) == 11  # the blank TotalCharges


@pytest.mark.parametrize(
    ("header", "separator"), [(b"a,b;c\n", ","), (b"a;b;c\n", ";"), (b"a\tb\n", "\t"), (b"a\n", ",")]
)
def test_separator_is_taken_from_the_header(header, separator):
    assert sniff_separator(header + b"1,2\n") == separator


def test_semicolons_and_a_byte_order_mark_are_handled(telco_model, customer_csv_line):
    header, line = customer_csv_line
    raw = b"\xef\xbb\xbf" + (header + "\n" + line + "\n").replace(",", ";").encode()
    frame = read_csv_bytes(raw, telco_model.schema)
    assert frame.columns[0] == telco_model.schema.names[0]
    assert len(score_batch(frame, telco_model).table) == 1


def test_category_text_is_kept_exactly(telco_model, customer_csv_line):
    header, line = customer_csv_line
    frame = read_csv_bytes((header + "\n" + line + "\n").encode(), telco_model.schema)
    assert frame["SeniorCitizen"].dtype.kind in "if"
    assert set(frame["Partner"].astype(str)) == {"No"}  # text as written (kept as categories)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n", "the file is empty"),
        (b"a,b\n1,2,3\n", "Expected 2 columns, got 3"),
        (b"\xff\xfe\x00a,b\n1,2\n", "not UTF-8"),
        (b"gender\nMale\n\xff\xfe\n", "invalid UTF8"),
        (b"a,a\n1,2\n", "duplicate column names: a"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(telco_model, raw, message):
    with pytest.raises(CsvError, match=message):
        read_csv_bytes(raw, telco_model.schema)


@pytest.fixture
def customer_csv_line(telco_model):
    values = {spec.name: spec.default for spec in telco_model.schema.features}
    header = ",".join(values)
    line = ",".join(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values.values())
    return header, line
