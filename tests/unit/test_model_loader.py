"""Loading bundles: local and S3, every failure with a specific reason, one copy per process."""

import hashlib
import json
import shutil

import boto3
import pytest

from lib.model.bundle import METADATA_FILE, MODEL_FILE, POINTER_FILE, SCHEMA_FILE, SCORER_FILE, point_to
from lib.model.compiled import compile_scorer
from lib.model_loader import ModelNotAvailable, get_model, load_model, refresh_model
from lib.settings import PROJECT_ROOT, get_settings
from tests.helpers import score_in_a_fresh_process


def settings_for(uri, tmp_path):
    return get_settings({"MODEL_URI": str(uri), "MODEL_CACHE_DIR": str(tmp_path / "cache")})


def test_registry_resolves_to_the_served_version(registry_copy):
    model = load_model(str(registry_copy))
    assert model.version == json.loads((registry_copy / POINTER_FILE).read_text())["version"]
    assert model.schema.names[0] == "gender"
    assert 0 < model.threshold < 1


def test_a_version_folder_loads_directly(registry_copy):
    version = json.loads((registry_copy / POINTER_FILE).read_text())["version"]
    assert load_model(str(registry_copy / version)).version == version


def expect_failure(uri, kind, *fragments):
    with pytest.raises(ModelNotAvailable) as error:
        load_model(str(uri))
    assert error.value.kind == kind
    for fragment in fragments:
        assert fragment in error.value.reason
    return error.value


def served_folder(registry):
    return registry / json.loads((registry / POINTER_FILE).read_text())["version"]


def test_truncated_model_file_is_a_checksum_mismatch(registry_copy):
    model_path = served_folder(registry_copy) / MODEL_FILE
    model_path.write_bytes(model_path.read_bytes()[:100])
    expect_failure(registry_copy, "checksum_mismatch", "does not match the checksum", "truncated")


def test_missing_model_file_is_an_incomplete_bundle(registry_copy):
    (served_folder(registry_copy) / MODEL_FILE).unlink()
    expect_failure(registry_copy, "incomplete", "missing model.joblib")


def replace_model_file(folder, body: bytes) -> None:
    """Swap model.joblib and make the metadata's checksum agree, as a careless copy would."""
    (folder / MODEL_FILE).write_bytes(body)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["model_sha256"] = hashlib.sha256(body).hexdigest()
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def test_unreadable_pickle_with_matching_checksum_is_reported(registry_copy):
    folder = served_folder(registry_copy)
    (folder / SCORER_FILE).unlink()  # without a stored scorer, loading unpickles at once
    replace_model_file(folder, b"not a pickle at all")
    expect_failure(registry_copy, "unreadable", "cannot be loaded")


def test_stored_scorer_serves_without_unpickling_until_the_pipeline_is_needed(registry_copy):
    folder = served_folder(registry_copy)
    replace_model_file(folder, b"not a pickle at all")
    model = load_model(str(registry_copy))
    assert model.scorer.kind == "compiled_linear"
    values = {spec.name: spec.default for spec in model.schema.features}
    assert 0 < model.scorer.probability(values) < 1
    with pytest.raises(ModelNotAvailable, match="cannot be loaded"):
        _ = model.pipeline


def test_stored_scorer_equals_the_one_compiled_from_the_pipeline(registry_copy):
    model = load_model(str(registry_copy))
    recompiled = compile_scorer(model.pipeline, model.schema)
    assert model.scorer.to_json() == recompiled.to_json()


def test_tampered_scorer_file_is_ignored_and_the_pipeline_compiled(registry_copy):
    folder = served_folder(registry_copy)
    stored = json.loads((folder / SCORER_FILE).read_text())
    stored["intercept"] += 1.0
    (folder / SCORER_FILE).write_text(json.dumps(stored))
    model = load_model(str(registry_copy))
    assert model.scorer.to_json()["intercept"] == pytest.approx(stored["intercept"] - 1.0)


def test_other_sklearn_version_is_incompatible(registry_copy):
    path = served_folder(registry_copy) / METADATA_FILE
    metadata = json.loads(path.read_text())
    metadata["sklearn_version"] = "0.24.2"
    path.write_text(json.dumps(metadata))
    expect_failure(registry_copy, "incompatible", "trained with scikit-learn 0.24.2")


def test_corrupt_metadata_is_unreadable(registry_copy):
    (served_folder(registry_copy) / METADATA_FILE).write_text("{not json")
    expect_failure(registry_copy, "unreadable", "metadata")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"min": None}, "'tenure' lacks its training min and max"),
        ({"max": "72"}, "'tenure' lacks its training min and max"),
        ({"kind": "text"}, "'tenure' has kind 'text'"),
    ],
)
def test_a_schema_whose_numeric_feature_is_ill_typed_is_refused_naming_it(registry_copy, change, named):
    path = served_folder(registry_copy) / SCHEMA_FILE
    schema = json.loads(path.read_text())
    tenure = next(spec for spec in schema["features"] if spec["name"] == "tenure")
    tenure.update(change)
    path.write_text(json.dumps(schema))
    expect_failure(registry_copy, "unreadable", SCHEMA_FILE, named)


def test_empty_registry_says_how_to_get_a_model(tmp_path):
    expect_failure(tmp_path, "missing", "python -m lib.training")


def test_pointer_to_a_vanished_version_is_missing(registry_copy):
    shutil.rmtree(served_folder(registry_copy))
    expect_failure(registry_copy, "missing")


def test_get_model_returns_one_shared_instance(registry_copy, tmp_path):
    settings = settings_for(registry_copy, tmp_path)
    first = get_model(settings)
    assert get_model(settings) is first


def copy_as_new_version(registry):
    """A second complete version beside the served one (not served yet)."""
    copy = registry / "20990101T000000Z-abcdef"
    shutil.copytree(served_folder(registry), copy)
    metadata = json.loads((copy / METADATA_FILE).read_text())
    metadata["version"] = copy.name
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    return copy


def test_refresh_swaps_to_the_newly_served_version(registry_copy, tmp_path):
    settings = settings_for(registry_copy, tmp_path)
    first = get_model(settings)
    copy = copy_as_new_version(registry_copy)
    assert get_model(settings) is first  # no reload per call
    point_to(registry_copy, copy.name)
    assert refresh_model(settings).version == copy.name
    assert get_model(settings).version == copy.name


def test_a_newly_served_version_is_picked_up_without_a_restart(registry_copy, tmp_path, monkeypatch):
    import lib.model_loader

    monkeypatch.setattr(lib.model_loader, "POINTER_CHECK_S", 0.0)
    settings = settings_for(registry_copy, tmp_path)
    first = get_model(settings)
    copy = copy_as_new_version(registry_copy)
    assert get_model(settings) is first  # pointer untouched: the same object, no reload
    point_to(registry_copy, copy.name)
    assert get_model(settings).version == copy.name


def test_refresh_keeps_serving_when_the_new_version_is_broken(registry_copy, tmp_path):
    settings = settings_for(registry_copy, tmp_path)
    first = get_model(settings)
    (served_folder(registry_copy) / MODEL_FILE).write_bytes(b"")
    assert refresh_model(settings) is first


def test_get_model_raises_the_reason_when_nothing_loads(tmp_path):
    with pytest.raises(ModelNotAvailable, match="train one"):
        get_model(settings_for(tmp_path / "empty", tmp_path))


# --- S3, through moto's server over HTTP -------------------------------------------------


def publish(registry, bucket, prefix, corrupt=False):
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    folder = served_folder(registry)
    for path in folder.iterdir():
        body = path.read_bytes()
        if corrupt and path.name == MODEL_FILE:
            body = body[:-10] + b"0123456789"
        client.put_object(Bucket=bucket, Key=f"{prefix}/{folder.name}/{path.name}", Body=body)
    client.put_object(Bucket=bucket, Key=f"{prefix}/{POINTER_FILE}", Body=json.dumps({"version": folder.name}))
    return folder.name


@pytest.mark.s3
def test_load_from_s3_downloads_once_and_serves(s3_env, registry_copy, tmp_path):
    version = publish(registry_copy, "models-ok", "churn/registry")
    model = load_model("s3://models-ok/churn/registry", cache_dir=tmp_path / "cache")
    assert model.version == version
    assert model.source == f"s3://models-ok/churn/registry/{version}"
    assert (tmp_path / "cache" / "models-ok" / "churn/registry" / version / MODEL_FILE).is_file()
    assert load_model("s3://models-ok/churn/registry", cache_dir=tmp_path / "cache").version == version


@pytest.mark.s3
def test_s3_checksum_mismatch_is_refused_and_not_cached(s3_env, registry_copy, tmp_path):
    version = publish(registry_copy, "models-bad", "reg", corrupt=True)
    with pytest.raises(ModelNotAvailable) as error:
        load_model("s3://models-bad/reg", cache_dir=tmp_path / "cache")
    assert error.value.kind == "checksum_mismatch"
    assert not (tmp_path / "cache" / "models-bad" / "reg" / version).exists()


@pytest.mark.s3
def test_s3_without_a_bundle_is_missing(s3_env, tmp_path):
    boto3.client("s3").create_bucket(Bucket="models-empty")
    for uri in ("s3://models-empty/reg", "s3://no-such-bucket/reg"):
        with pytest.raises(ModelNotAvailable) as error:
            load_model(uri, cache_dir=tmp_path / "cache")
        assert error.value.kind == "missing", uri


@pytest.mark.s3
def test_unreachable_s3_endpoint_is_reported(s3_env, monkeypatch, tmp_path):
    from tests.helpers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ModelNotAvailable) as error:
        load_model("s3://anything/reg", cache_dir=tmp_path / "cache")
    assert error.value.kind == "storage_unreachable"
    assert "cannot be reached" in error.value.reason


@pytest.mark.s3
def test_with_s3_down_the_last_served_copy_is_served_and_the_problem_reported(
    s3_env, registry_copy, monkeypatch, tmp_path
):
    from lib.model_loader import forget_model, registry_problem
    from tests.helpers import free_port

    version = publish(registry_copy, "models-fallback", "reg")
    settings = settings_for("s3://models-fallback/reg", tmp_path)
    assert get_model(settings).version == version and registry_problem() is None
    forget_model()  # a restart, say
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # S3 gone
    model = get_model(settings)
    assert model.version == version and "local copy" in model.source
    assert "cannot be reached" in registry_problem()
    forget_model()
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(ModelNotAvailable) as error:  # no copy either: nothing to serve, and it says why
        get_model(settings)
    assert error.value.kind == "storage_unreachable"


def test_loading_the_model_and_scoring_a_record_import_no_pandas():
    """A server is ready once its model is loaded: that path stays clear of pandas and Arrow
    (about 0.3 s of every start; /health/ready 1.02 -> 0.74 s), which only tables need."""
    _, probability, imported = score_in_a_fresh_process(PROJECT_ROOT / "models", ("pandas", "pyarrow"))
    assert 0 < probability < 1
    assert imported == {"pandas": False, "pyarrow": False}
