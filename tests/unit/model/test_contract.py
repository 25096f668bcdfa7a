"""The training -> serving contract: a bundle whose metadata.json or kpis.json lacks a
field, or holds one of the wrong type, is refused when it is read, naming the field."""

import json

import pytest

from lib.model.bundle import KPIS_FILE, METADATA_FILE, POINTER_FILE
from lib.model.contract import FORMAT_VERSION, ContractError, TrainingKpis
from lib.model_loader import ModelNotAvailable, load_model
from lib.registry import LocalRegistry


def served_folder(registry):
    return registry / json.loads((registry / POINTER_FILE).read_text())["version"]


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def refused(registry) -> str:
    with pytest.raises(ModelNotAvailable) as error:
        load_model(str(registry))
    assert error.value.kind == "unreadable"
    return error.value.reason


def test_training_writes_the_current_format_and_serving_reads_it_typed(telco_model, telco_training):
    _, result = telco_training
    written = json.loads((result.folder / METADATA_FILE).read_text())
    assert written["format_version"] == FORMAT_VERSION
    assert telco_model.metadata.format_version == FORMAT_VERSION
    assert telco_model.metadata.dataset.rows_used == written["dataset"]["rows_used"]
    assert telco_model.metadata.business.currency == "$"
    assert telco_model.kpis.threshold_selection.threshold == telco_model.threshold


def test_a_bundle_written_before_the_format_version_and_the_outcome_reads_as_format_one(registry_copy):
    folder = served_folder(registry_copy)
    edit(folder / METADATA_FILE, lambda m: (m.pop("format_version"), m.pop("outcome")))  # as bundles were
    model = load_model(str(registry_copy))
    assert model.metadata.format_version == 1 and model.metadata.outcome is None
    assert (model.outcome.name, model.outcome.positive, model.outcome.positive_is) == ("Churn", "Yes", "risk")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m["dataset"].pop("rows_used"), "metadata.json: dataset.rows_used is missing"),
        (lambda m: m.update(threshold="0.3"), "metadata.json: threshold must be a number between 0 and 1"),
        (lambda m: m.update(threshold=1.5), "metadata.json: threshold must be a number between 0 and 1"),
        (lambda m: m["model"].update(family=7), "metadata.json: model.family must be a string"),
        (lambda m: m["test_metrics"].pop("roc_auc"), "metadata.json: test_metrics.roc_auc is missing"),
        (lambda m: m["business"].update(offer_success_rate=2), "business.offer_success_rate must be a number"),
        (lambda m: m.update(dataset=[]), "metadata.json: dataset must be an object"),
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), "newer than this product reads"),
    ],
)
def test_metadata_with_a_missing_or_ill_typed_field_is_refused_by_name(registry_copy, change, named):
    edit(served_folder(registry_copy) / METADATA_FILE, change)
    assert named in refused(registry_copy)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda k: k["distributions"].pop("tenure"), "kpis.json: distributions.tenure is missing"),
        (lambda k: k["distributions"]["tenure"].update(kind="text"), "distributions.tenure.kind must be"),
        (lambda k: k["threshold_table"]["tp"].pop(), "threshold_table columns must be non-empty and of equal length"),
        (lambda k: k["curves"]["roc"].update(fpr="none"), "kpis.json: curves.roc.fpr must be a list"),
        (lambda k: k.update(base_rate=None), "kpis.json: base_rate must be a number"),
        (lambda k: k["feature_importance"][0].update(feature="nope"), "feature_importance[0].feature must be one of"),
        (lambda k: k["metrics"].update(f1="high"), "kpis.json: metrics.f1 must be a number"),
    ],
)
def test_kpis_with_a_missing_or_ill_typed_field_are_refused_by_name(registry_copy, change, named):
    edit(served_folder(registry_copy) / KPIS_FILE, change)
    assert named in refused(registry_copy)


def test_a_version_breaking_the_contract_is_listed_as_unreadable_not_hiding_the_others(registry_copy, telco_model):
    registry = LocalRegistry(registry_copy)
    broken = registry_copy / f"{telco_model.version}-broken"
    broken.mkdir()
    for source in served_folder(registry_copy).iterdir():
        (broken / source.name).write_bytes(source.read_bytes())
    edit(broken / METADATA_FILE, lambda m: m.pop("created_at"))
    statuses = {info.version: info.status for info in registry.versions()}
    assert statuses == {telco_model.version: "serving", broken.name: "unreadable"}


def test_the_typed_objects_round_trip_to_the_json_training_wrote(telco_training):
    _, result = telco_training
    metadata = json.loads((result.folder / METADATA_FILE).read_text())
    kpis = json.loads((result.folder / KPIS_FILE).read_text())
    assert result.metadata.to_json() == {**metadata, "scorer": metadata["scorer"]}
    names = list(kpis["distributions"])
    assert TrainingKpis.from_json(kpis, names).to_json() == kpis


def test_a_file_that_is_not_an_object_is_refused():
    with pytest.raises(ContractError, match=r"kpis\.json: the file must be an object"):
        TrainingKpis.from_json([], [])
