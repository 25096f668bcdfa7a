"""The training pipeline end to end: bundle contents, metrics, other datasets, crashes."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from lib.model.bundle import BUNDLE_FILES, PARTIAL_PREFIX, SCORER_FILE, list_versions, read_pointer
from lib.model_loader import load_model
from lib.registry.local import LOCK_FILE
from lib.settings import PROJECT_ROOT
from lib.training.config import load_config
from lib.training.data import load_dataset, split_rows
from lib.training.evaluation import classification_metrics
from lib.training.pipeline import train
from tests.helpers import COMMITTED_REGISTRY, TELCO_CONFIG

pytestmark = pytest.mark.slow


def assert_same_metrics(actual: dict, expected: dict, rel: float) -> None:
    assert actual.keys() == expected.keys()
    assert actual["confusion_matrix"] == expected["confusion_matrix"]
    flat = {k: v for k, v in actual.items() if k != "confusion_matrix"}
    assert flat == pytest.approx({k: v for k, v in expected.items() if k != "confusion_matrix"}, rel=rel)


def test_cli_prints_its_progress(telco_cli_run):
    steps = [line.split("]")[0] + "]" for line in telco_cli_run.stdout.splitlines() if line.startswith("[")]
    assert steps == [f"[{step}/7]" for step in range(1, 8)]
    assert f"now serving {telco_cli_run.result.version}" in telco_cli_run.stdout
    assert "logistic_regression: ROC AUC" in telco_cli_run.stdout


def test_default_config_writes_a_complete_version_and_moves_the_pointer(telco_training):
    registry, result = telco_training
    assert read_pointer(registry) == result.version
    assert sorted(p.name for p in result.folder.iterdir()) == sorted([*BUNDLE_FILES, SCORER_FILE])
    metadata = json.loads((result.folder / "metadata.json").read_text())
    for key in ("created_at", "python_version", "sklearn_version", "threshold", "model_sha256", "test_metrics"):
        assert key in metadata
    assert metadata["dataset"]["sha256"] == load_dataset(load_config(TELCO_CONFIG)).sha256
    assert metadata["dataset"]["rows_test"] == 1409
    kpis = json.loads((result.folder / "kpis.json").read_text())
    for key in ("metrics", "curves", "feature_importance", "distributions", "confidence", "latency", "business"):
        assert kpis[key], key
    assert set(kpis["curves"]) == {"roc", "pr", "calibration", "gain"}
    assert kpis["business"]["base_rate"] == pytest.approx(1869 / 7043)
    assert kpis["latency"]["single_record_ms"] > 0
    schema = json.loads((result.folder / "features_order.json").read_text())
    tenure = next(f for f in schema["features"] if f["name"] == "tenure")
    assert (tenure["dtype"], tenure["min"], tenure["max"], tenure["hard_max"]) == ("int64", 0.0, 72.0, 1200.0)


def test_test_roc_auc_reaches_the_bar(telco_training):
    _, result = telco_training
    assert result.kpis.metrics["roc_auc"] >= 0.84
    assert len(result.kpis.candidates) >= 2


def test_stored_metrics_equal_those_recomputed_from_the_loaded_model(telco_training):
    registry, _ = telco_training
    model = load_model(str(registry))
    config = load_config(TELCO_CONFIG)
    dataset = load_dataset(config)
    test_rows = split_rows(dataset.target, config).test
    probability = model.pipeline.predict_proba(dataset.features.iloc[test_rows])[:, 1]
    recomputed = classification_metrics(dataset.target[test_rows], probability, model.threshold)
    assert_same_metrics(recomputed, model.kpis.metrics, rel=1e-12)
    assert model.metadata.test_metrics["roc_auc"] == pytest.approx(recomputed["roc_auc"], rel=1e-12)


def test_committed_default_bundle_loads_and_matches_a_fresh_training(telco_training):
    """Same data and config give the same metrics: the committed model is what training gives."""
    committed = load_model(str(COMMITTED_REGISTRY))
    _, fresh = telco_training
    assert_same_metrics(committed.kpis.metrics, fresh.kpis.metrics, rel=1e-9)
    assert committed.threshold == fresh.metadata.threshold


def test_threshold_maximises_expected_profit_on_validation(telco_training):
    _, result = telco_training
    selection = result.kpis.threshold_selection
    assert selection.criterion == "max_expected_profit"
    table = result.kpis.threshold_table
    at_chosen = table["threshold"].index(result.metadata.threshold)
    assert table["profit"][at_chosen] == pytest.approx(result.kpis.business["expected_profit"])
    matrix = result.kpis.metrics["confusion_matrix"]
    assert [table[k][at_chosen] for k in ("tp", "fp", "tn", "fn")] == [matrix[k] for k in ("tp", "fp", "tn", "fn")]
    assert result.metadata.business.value_column == "MonthlyCharges"


def test_second_dataset_trains_without_code_change_and_repeats_exactly(synthetic_config, tmp_path):
    config = load_config(synthetic_config)
    first = train(config, tmp_path / "a", log=lambda _line: None)
    second = train(config, tmp_path / "b", log=lambda _line: None)
    assert first.kpis.metrics == second.kpis.metrics
    assert first.kpis.threshold_selection.criterion == "max_f1"
    assert first.kpis.business is None
    assert first.kpis.metrics["roc_auc"] > 0.7
    model = load_model(str(tmp_path / "a"))
    assert model.schema.names == ["age", "plan", "balance", "region"]
    assert (model.schema.positive_label, model.schema.negative_label) == ("gone", "stayed")
    assert model.schema.id_columns == ["account_no"]


def _default_sigint() -> None:
    """In the child: Ctrl-C as a terminal gives it. A suite started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then installs no handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_training(registry, config=TELCO_CONFIG):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lib.training", "--config", str(config), "--registry", str(registry)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _wait_for_step(process, step):
    for line in process.stdout:
        if line.startswith(f"[{step}/"):
            return line
    raise AssertionError(f"training ended before step {step}: {process.stderr.read()}")


@pytest.mark.parametrize("step", [3, 6, 7])
def test_killed_training_leaves_the_previous_version_served(registry_copy, step):
    before = read_pointer(registry_copy)
    process = _start_training(registry_copy)
    _wait_for_step(process, step)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    served = read_pointer(registry_copy)
    assert served in list_versions(registry_copy)
    model = load_model(str(registry_copy))  # whatever the pointer names is complete and loads
    assert model.version == served
    if step < 7:
        assert served == before
    complete = set(list_versions(registry_copy))
    for entry in registry_copy.iterdir():
        assert entry.name in complete | {"current.json", "audit.jsonl", LOCK_FILE} or entry.name.startswith(
            PARTIAL_PREFIX
        )


def test_interrupted_training_says_nothing_changed(registry_copy):
    before = read_pointer(registry_copy)
    process = _start_training(registry_copy)
    _wait_for_step(process, 3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "the served version is unchanged" in stderr
    assert "Traceback" not in stderr
    assert read_pointer(registry_copy) == before


def test_leftover_partial_folders_are_cleaned_by_the_next_run(tmp_path, synthetic_config):
    registry = tmp_path / "models"
    stale = registry / f"{PARTIAL_PREFIX}20200101T000000Z-000000"
    stale.mkdir(parents=True)
    (stale / "model.joblib").write_bytes(b"half")
    os.utime(stale, (0, 0))
    result = train(load_config(synthetic_config), registry, log=lambda _line: None)
    assert not stale.exists()
    assert list_versions(registry) == [result.version]


def test_bad_config_fails_with_a_message_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[dataset]\ncsv = "missing.csv"\ntarget = "y"\npositive_label = "1"\n')
    completed = subprocess.run(
        [sys.executable, "-m", "lib.training", "--config", str(bad), "--registry", str(tmp_path / "r")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "dataset CSV not found" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "r").exists()


def test_candidates_report_cross_validated_and_test_scores(telco_training):
    _, result = telco_training
    for candidate in result.kpis.candidates:
        assert 0.5 < candidate["cv_roc_auc_mean"] < 1 and candidate["cv_roc_auc_std"] >= 0
        assert 0.5 < candidate["test_roc_auc"] < 1
    best = max(result.kpis.candidates, key=lambda c: c["cv_roc_auc_mean"])
    assert result.metadata.model.family == best["family"]
    assert np.isfinite(result.metadata.training_seconds)


def test_the_training_command_runs_numeric_libraries_on_one_thread_unless_told_otherwise():
    """As retraining jobs do: on a busy machine, competing BLAS threads made it 5-15x slower."""
    probe = (
        "import os, lib.training.__main__, numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "print(sorted({pool['num_threads'] for pool in threadpool_info()}), os.environ['OMP_NUM_THREADS'])\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    capped = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert capped.stdout.split() == ["[1]", "1"], capped.stdout + capped.stderr
    chosen = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env={**environment, "OMP_NUM_THREADS": "2"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert chosen.stdout.split()[-1] == "2"  # an operator's own value wins
