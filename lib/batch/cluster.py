"""A batch on a Dask distributed cluster: one task per input part, each reading its part,
scoring it and writing its output part where every worker can reach (s3://, or a
shared folder). The model travels once to every worker as a pickled LoadedModel: schema,
metadata and the compiled scorer, never the fitted pipeline, so workers need this
project's lib/ with numpy, pandas, pyarrow and scipy (numba for a tree model), not
scikit-learn. Only dask.distributed is used (no dask.dataframe, no s3fs): Arrow does
every read and write.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from lib.batch.engine import BatchReport, score_into
from lib.batch.files import BatchInputError, locate, parts
from lib.model.loaded import LoadedModel


def score_part(model: LoadedModel, source_uri: str, target_uri: str, name: str) -> dict[str, Any]:
    """One task: a part in, a part out (runs on a worker)."""
    report = score_into(model, locate(source_uri), locate(target_uri), name)
    return {"name": name, "rows": report.rows, "scored": report.scored, "refused": report.refused,
            "seconds": report.seconds, "sklearn_loaded": "sklearn" in sys.modules}  # fmt: skip


def run_on_cluster(
    model: LoadedModel, source_uri: str, target_uri: str, address: str
) -> tuple[BatchReport, list[dict]]:
    """Score a Parquet dataset into a folder of parts, one task per part; returns the
    total (seconds: the wall time) and each task's report."""
    from dask.distributed import Client

    if model.scorer.kind == "sklearn_pipeline":
        raise BatchInputError("this model has no compiled scorer: run without --dask (workers would need scikit-learn)")
    source, target = locate(source_uri), locate(target_uri)
    if target.format is not None:
        raise BatchInputError(f"{target_uri}: with --dask, name an output folder (each part is written as a part)")
    inputs = parts(source)
    names = [item.name_in(source) for item in inputs]
    started = time.perf_counter()
    with Client(address) as client:
        shipped = client.scatter(model, broadcast=True)
        futures = [
            client.submit(score_part, shipped, item.uri, target.child(_as_parquet(name)).uri, name, pure=False)
            for item, name in zip(inputs, names, strict=True)
        ]
        reports = client.gather(futures)
    total = BatchReport(
        sum(r["rows"] for r in reports),
        sum(r["scored"] for r in reports),
        sum(r["refused"] for r in reports),
        time.perf_counter() - started,
    )
    return total, reports


def _as_parquet(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if name.lower().endswith((".csv", ".parquet")) else name
    return f"{stem}.parquet"
