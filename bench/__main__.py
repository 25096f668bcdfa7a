"""`python -m bench [--quick] [--output PATH]`: every benchmark, one table, one JSON file."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench import batch_memory, dashboard, http, inference, memory, monitoring, replicas, retrain, stalls, trees
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
    args = parser.parse_args(argv)

    model = load_model(args.model_uri)
    with tempfile.TemporaryDirectory() as workdir:
        # Servers and pages started by the benchmarks log to a throwaway store, not kpis/.
        os.environ["KPI_DIR"] = str(Path(workdir) / "kpis")  # prediction log, retraining jobs
        os.environ["MONITORING_DB"] = str(Path(workdir) / "kpis" / "monitoring.sqlite3")
        os.environ.pop("ADMIN_TOKEN", None)  # the retraining benchmark starts jobs from this machine
        reload_settings()  # read once per process: this process's own pages and log see the change
        results = inference.run(model, str(get_settings().data_config), quick=args.quick)
        results += trees.run(model, str(get_settings().data_config), PROJECT_ROOT, Path(workdir), args.quick)
        results += monitoring.run(model, Path(workdir), args.quick)
        results += replicas.run(model, PROJECT_ROOT, args.model_uri, Path(workdir), args.quick)
        results += dashboard.submit_script_time(PROJECT_ROOT, args.model_uri, args.quick)
        results += dashboard.start_to_first_page(PROJECT_ROOT, args.model_uri, Path(workdir), args.quick)
        results += memory.run(PROJECT_ROOT, args.model_uri, Path(workdir), sessions=3 if args.quick else 20)
        results += http.run(PROJECT_ROOT, args.model_uri, Path(workdir), args.quick)
        results += retrain.run(PROJECT_ROOT, args.model_uri, Path(workdir), args.quick)
        results += stalls.run(PROJECT_ROOT, args.model_uri, Path(workdir), args.quick)
        results += batch_memory.run(PROJECT_ROOT, args.model_uri, Path(workdir), args.quick)
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
