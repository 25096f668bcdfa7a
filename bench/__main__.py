"""`python -m bench [--quick] [--output PATH]`: every benchmark, one table, one JSON file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    batch_cli,
    batch_memory,
    csv_stream,
    dashboard,
    http,
    inference,
    memory,
    monitoring,
    outcomes,
    replicas,
    retrain,
    shadow,
    stalls,
    throughput,
    trees,
)
from bench.timing import Measurement, machine
from lib.model_loader import load_model
from lib.monitoring.log import close_prediction_log
from lib.settings import PROJECT_ROOT, get_settings, reload_settings

DEFAULT_OUTPUT = PROJECT_ROOT / "bench" / "results" / "latest.json"


def _format(value: float, unit: str) -> str:
    if unit in ("rows/s", "req/s"):
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def table(results: list[Measurement]) -> str:
    lines = ["| benchmark | median | min–max | vs baseline | target |", "|---|---|---|---|---|"]
    for m in results:
        ratio = f"{m.ratio:,.0f}× better" if m.ratio and m.ratio >= 10 else (f"{m.ratio:.2f}×" if m.ratio else "")
        spread = f"{_format(m.minimum, m.unit)}–{_format(m.maximum, m.unit)}"
        lines.append(f"| {m.name} | {_format(m.median, m.unit)} {m.unit} | {spread} | {ratio} | {m.target or ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--model-uri", default=str(PROJECT_ROOT / "models"))
    parser.add_argument("--only", help="comma-separated benchmarks to run (default: all)")
    args = parser.parse_args(argv)

    model = load_model(args.model_uri)
    with tempfile.TemporaryDirectory() as workdir:
        # Servers and pages started by the benchmarks log to a throwaway store, not kpis/.
        os.environ["KPI_DIR"] = str(Path(workdir) / "kpis")  # prediction log, retraining jobs
        os.environ["MONITORING_DB"] = str(Path(workdir) / "kpis" / "monitoring.sqlite3")
        os.environ.pop("ADMIN_TOKEN", None)  # the retraining benchmark starts jobs from this machine
        reload_settings()  # read once per process: this process's own pages and log see the change
        model_uri, workspace, quick, config = args.model_uri, Path(workdir), args.quick, str(get_settings().data_config)
        suites = {
            "inference": lambda: inference.run(model, config, quick=quick),
            "trees": lambda: trees.run(model, config, PROJECT_ROOT, workspace, quick),
            "monitoring": lambda: monitoring.run(model, workspace, quick),
            "outcomes": lambda: outcomes.run(model, workspace, quick),
            "replicas": lambda: replicas.run(model, PROJECT_ROOT, model_uri, workspace, quick),
            "dashboard": lambda: (
                dashboard.submit_script_time(PROJECT_ROOT, model_uri, quick)
                + dashboard.start_to_first_page(PROJECT_ROOT, model_uri, workspace, quick)
            ),
            "memory": lambda: memory.run(PROJECT_ROOT, model_uri, workspace, sessions=3 if quick else 20),
            "http": lambda: http.run(PROJECT_ROOT, model_uri, workspace, quick),
            "throughput": lambda: throughput.run(PROJECT_ROOT, model_uri, workspace, quick),
            "retrain": lambda: retrain.run(PROJECT_ROOT, model_uri, workspace, quick),
            "shadow": lambda: shadow.run(PROJECT_ROOT, model_uri, workspace, quick),
            "stalls": lambda: stalls.run(PROJECT_ROOT, model_uri, workspace, quick),
            "batch_memory": lambda: batch_memory.run(PROJECT_ROOT, model_uri, workspace, quick),
            "batch_cli": lambda: batch_cli.run_bench(model, workspace, quick),
            "csv_stream": lambda: csv_stream.run(model_uri, workspace, quick),
        }
        chosen = args.only.split(",") if args.only else list(suites)
        unknown = sorted(set(chosen) - set(suites))
        if unknown:
            parser.error(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(suites)})")
        results = []
        for name in chosen:
            started = time.perf_counter()
            results += suites[name]()
            print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)  # where a run's time goes
        close_prediction_log()  # the pages run here logged into workdir, which goes now

    print(table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "model_version": model.version,
        "scorer": model.scorer.kind,
        "machine": machine(),
        "results": [m.to_dict() for m in results],
    }
    args.output.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
