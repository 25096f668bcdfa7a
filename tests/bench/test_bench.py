"""The benchmark entry point runs end to end and writes every figure the README quotes."""

import json
import subprocess
import sys

import pytest

from lib.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.mark.timeout(900)
def test_quick_bench_writes_medians_spreads_and_ratios(tmp_path):
    output = tmp_path / "latest.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| benchmark | median |" in completed.stdout
    report = json.loads(output.read_text())
    assert report["machine"]["packages"]["scikit-learn"]
    assert report["scorer"] == "compiled_linear"
    names = [result["name"] for result in report["results"]]
    for expected in (
        "score_record",
        "raw compiled score",
        "score_batch",
        "CSV bytes to scored table",
        "server RSS",
        "Predict submit rerun (script time)",
        "server start to first rendered page",
        "logging overhead per prediction",
        "/metrics/system, all 4 windows",
        "Health page queries",
        "drift of 19 features",
        "POST /predict latency while retraining",
        "GET /health/live p99 while 2 clients post",
        "server RSS peak while scoring",
        "server RSS after those sessions ended",
        "gradient boosting, compiled trees: score_record with reasons",
        "gradient boosting, compiled trees: score_batch of an uploaded table",
        "gradient boosting, compiled trees: POST /predict, 100 records",
        "logging overhead per prediction (hot path, writer running), PostgreSQL store",
        "/metrics/system, all 4 windows, 10,000 logged, PostgreSQL store",
        "POST /predict through nginx, two replicas",
        "POST /predict one record, 8 conn., against the bare Starlette",
        "POST /predict 10,000 records with reasons, against the naive app",
        "python -m lib.batch, 100,000 rows in 8 Parquet parts, Dask LocalCluster",
        "outcomes ingested from a CSV",
        "POST /predict one record, a challenger in shadow",
        "/metrics/model?source=live (30 d), 25,000 logged, all labelled (daily tallies)",
    ):
        assert any(name.startswith(expected) for name in names), expected
    first_page = next(r for r in report["results"] if r["name"].startswith("server start to first rendered page"))
    assert first_page["baseline_name"].startswith("a minimal st.App page")  # measured against it, in the same run
    for result in report["results"]:
        assert result["minimum"] <= result["median"] <= result["maximum"]
        if result["baseline_name"]:
            assert result["ratio_to_baseline"] > 0


def test_no_benchmark_names_a_column_of_a_shipped_dataset():
    """Benchmarks take their features from the served model's schema, whatever the data."""
    columns = set()
    for csv in (PROJECT_ROOT / "data").glob("*.csv"):
        columns |= {
            name.strip() for name in csv.read_text(encoding="utf-8").splitlines()[0].replace(";", ",").split(",")
        }
    assert "tenure" in columns  # the check sees the Telco header
    for source in (PROJECT_ROOT / "bench").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        named = sorted(
            column for column in columns if f'"{column}"' in text or f"'{column}'" in text or f"_{column}" in text
        )
        assert not named, f"{source.name} names {named}"
