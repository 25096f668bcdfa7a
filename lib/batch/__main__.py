"""`python -m lib.batch IN OUT [--model-version V] [--dask ADDRESS]`

Scores IN (a .csv or .parquet file, or a folder / s3:// prefix of .parquet parts) into
OUT (a .csv or .parquet file, or a folder / prefix: a part for each input part) with the
model MODEL_URI serves, or the version named. Streamed: memory holds a chunk, not the
file. With --dask ADDRESS (or DASK_SCHEDULER) each part is a task on that Dask
cluster. Prints a JSON report: rows, scored, refused, seconds, rows/s.
Exit status: 0 done, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from lib.batch.engine import run
from lib.batch.files import BatchInputError, locate
from lib.model_loader import ModelNotAvailable, load_model
from lib.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.batch", description=__doc__.split("\n\n")[1])
    parser.add_argument("input", help="a .csv or .parquet file, or a folder or s3:// prefix of .parquet parts")
    parser.add_argument("output", help="a .csv or .parquet file, or a folder or s3:// prefix for parts")
    parser.add_argument("--model-version", help="a version of the registry (default: the one it serves)")
    parser.add_argument("--model-uri", help="the registry (default: MODEL_URI)")
    parser.add_argument("--dask", default=os.environ.get("DASK_SCHEDULER"), help="a Dask scheduler (tcp://host:8786)")
    args = parser.parse_args(argv)
    registry = args.model_uri or get_settings().model_uri
    uri = f"{registry.rstrip('/')}/{args.model_version}" if args.model_version else registry
    try:
        model = load_model(uri)
        if args.dask:
            from lib.batch.cluster import run_on_cluster

            report, _ = run_on_cluster(model, args.input, args.output, args.dask)
        else:
            report = run(model, locate(args.input), locate(args.output), lambda line: print(line, file=sys.stderr))
    except ModelNotAvailable as exc:
        print(f"no model: {exc.reason}", file=sys.stderr)
        return 2
    except BatchInputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    summary = {"model_version": model.version, "rows": report.rows, "scored": report.scored,
               "refused": report.refused, "seconds": round(report.seconds, 3),
               "rows_per_s": round(report.rows_per_s), "engine": "dask" if args.dask else "local"}  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
