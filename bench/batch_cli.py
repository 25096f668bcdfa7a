"""`python -m lib.batch` (issue 17) on a partitioned Parquet dataset: this process alone
against a Dask LocalCluster of two worker processes, and a naive pandas loop (read each
part, predict_proba, write it) as the baseline, all in the same run on the same files."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.timing import Measurement
from lib.batch.cluster import run_on_cluster
from lib.batch.engine import run
from lib.batch.files import locate
from lib.model.loaded import LoadedModel
from lib.serving.csv_io import read_csv_bytes
from lib.settings import PROJECT_ROOT

PARTS = 8


def _dataset(model: LoadedModel, folder: Path, rows: int) -> Path:
    """The bundled rows repeated to `rows`, in PARTS Parquet files."""
    frame = read_csv_bytes((PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes(), model.schema)
    frame = frame.iloc[np.arange(rows) % len(frame)].reset_index(drop=True)
    for spec in model.schema.features:  # numbers as numbers (Telco's blank TotalCharges: missing)
        if spec.is_numeric:
            frame[spec.name] = pd.to_numeric(frame[spec.name], errors="coerce")
    folder.mkdir(parents=True, exist_ok=True)
    for number, part in enumerate(np.array_split(np.arange(rows), PARTS)):
        table = pa.Table.from_pandas(frame.iloc[part].reset_index(drop=True), preserve_index=False)
        pq.write_table(table, folder / f"part-{number}.parquet")
    return folder


def _naive(model: LoadedModel, source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.parquet")):
        frame = pd.read_parquet(path)
        probability = model.pipeline.predict_proba(frame[model.schema.names])[:, 1]
        pd.DataFrame({"probability": probability}).to_parquet(target / path.name)


def run_bench(model: LoadedModel, workdir: Path, quick: bool) -> list[Measurement]:
    from dask.distributed import LocalCluster

    rows = 100_000 if quick else 1_000_000
    source = _dataset(model, workdir / "batch-in", rows)
    rounds = 1 if quick else 3
    timings: dict[str, list[float]] = {"naive": [], "local": [], "dask": []}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        for round_number in range(rounds):
            started = time.perf_counter()
            _naive(model, source, workdir / f"batch-naive-{round_number}")
            timings["naive"].append(time.perf_counter() - started)
            started = time.perf_counter()
            run(model, locate(str(source)), locate(str(workdir / f"batch-local-{round_number}")))
            timings["local"].append(time.perf_counter() - started)
            report, _ = run_on_cluster(
                model, str(source), str(workdir / f"batch-dask-{round_number}"), cluster.scheduler_address
            )
            timings["dask"].append(report.seconds)
    rates = {name: [rows / t for t in values] for name, values in timings.items()}
    results = []
    for name, title in (("local", "one process"), ("dask", "Dask LocalCluster, 2 workers")):
        values = rates[name]
        results.append(
            Measurement(
                f"python -m lib.batch, {rows:,} rows in {PARTS} Parquet parts, {title}",
                "rows/s",
                statistics.median(values),
                min(values),
                max(values),
                len(values),
                baseline_name="naive: pandas read_parquet + predict_proba + to_parquet, per part",
                baseline_median=statistics.median(rates["naive"]),
                higher_is_better=True,
            )
        )
    return results
