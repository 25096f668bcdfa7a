"""A CSV of 1,000,000 rows (138 MB) scored into a CSV of the rows with their scores
(issue 17, target 3): streamed through lib.batch's engine (Arrow's reader in 8 MB
blocks, each chunk validated, scored and written before the next is read) against
pandas.read_csv + predict_proba + to_csv, each in a fresh process; and the Batch scoring
page's path (lib.batch.upload: the same stream, every row logged by the prediction log,
the download written to disk for the session's link). Wall time to the scored file, and
peak RSS above the process's idle (model loaded, before the file is read; the file's
bytes held in memory count, as an upload's do; the page's log writes count too).

Run as `python -m bench.csv_stream MODE CSV OUT` for one measurement (JSON on stdout).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.timing import Measurement
from lib.settings import PROJECT_ROOT


def write_csv(target: Path, rows: int) -> int:
    """The bundled CSV's rows repeated to `rows`; returns the file's size."""
    lines = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    with open(target, "w", encoding="utf-8") as out:
        out.write(header + "\n")
        for start in range(0, rows, len(body)):
            out.write("\n".join(body[: min(len(body), rows - start)]) + "\n")
    return target.stat().st_size


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / 1e6


def measure(mode: str, source: Path, target: Path, model_uri: str) -> dict[str, float]:
    import io
    import resource

    import pandas as pd
    import pyarrow as pa

    from lib.model_loader import load_model

    model = load_model(model_uri)
    model.pipeline  # noqa: B018 (loaded before the idle reading, as a server has it)
    idle = _rss_mb()
    raw = source.read_bytes()
    started = time.perf_counter()
    if mode == "pandas":
        frame = pd.read_csv(io.BytesIO(raw))
        for spec in model.schema.features:
            if spec.is_numeric:
                frame[spec.name] = pd.to_numeric(frame[spec.name], errors="coerce")
        frame["probability"] = model.pipeline.predict_proba(frame[model.schema.names])[:, 1]
        frame.to_csv(target, index=False)
    elif mode == "page":  # the Batch scoring page's path: scored, logged, the download on disk
        from lib.batch.upload import score_uploaded_file
        from lib.monitoring.log import prediction_log

        scored = score_uploaded_file(memoryview(raw), "upload.csv", "bench", model)
        seconds = time.perf_counter() - started
        prediction_log().flush()  # the log's work counts in the peak, not in the time to the download
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        assert scored.rows_in == scored.scored and scored.download.path.is_file()
        return {"seconds": seconds, "above_idle_mb": peak - idle}
    else:
        from lib.batch.engine import score_chunks
        from lib.batch.files import ChunkWriter, csv_chunks, locate

        writer = ChunkWriter(locate(str(target)))
        try:
            score_chunks(model, csv_chunks(pa.BufferReader(raw), raw[:65_536], model.schema), writer, with_inputs=True)
        finally:
            writer.close()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    return {"seconds": seconds, "above_idle_mb": peak - idle}


def run(model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    rows = 20_000 if quick else 1_000_000
    source = workdir / "stream-in.csv"
    size_mb = write_csv(source, rows) / 1e6
    runs: dict[str, list[dict[str, float]]] = {"pandas": [], "stream": [], "page": []}
    environment = {**os.environ, "KPI_DIR": str(workdir / "stream-kpis"), "MONITORING_DB": ""}
    for _ in range(1 if quick else 3):
        for mode in runs:
            command = [
                sys.executable,
                "-m",
                "bench.csv_stream",
                mode,
                str(source),
                str(workdir / f"stream-{mode}.csv"),
                model_uri,
            ]
            done = subprocess.run(
                command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=600, env=environment
            )
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    results = []
    paths = {"stream": "streamed by lib.batch", "page": "the Batch scoring page's path (logged, download on disk)"}
    for (mode, path), (key, unit, title) in itertools.product(
        paths.items(), (("seconds", "s", "wall time"), ("above_idle_mb", "MB", "peak RSS above idle"))
    ):
        mine = [r[key] for r in runs[mode]]
        target = "faster than pandas" if key == "seconds" else f"<= 4x the file ({4 * size_mb:,.0f} MB)"
        results.append(
            Measurement(
                f"CSV of {rows:,} rows ({size_mb:,.0f} MB) to a scored CSV, {path}: {title}",
                unit,
                statistics.median(mine),
                min(mine),
                max(mine),
                len(mine),
                baseline_name="pandas read_csv + predict_proba + to_csv",
                baseline_median=statistics.median(r[key] for r in runs["pandas"]),
                target=target,
            )
        )
    return results


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
