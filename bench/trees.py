"""Gradient boosting served compiled against the same model served by its scikit-learn
pipeline: the benchmark trains the model on the bundled data itself, so both run here."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.inference import _micro as micro
from bench.inference import _record, _rows, _throughput, varied
from bench.servers import UVICORN, start
from bench.timing import Measurement, sample, summary
from lib.model.bundle import new_version_id, point_to, write_bundle
from lib.model.compiled import PipelineScorer, stored_form
from lib.model.inference import score_batch, score_record
from lib.model_loader import LoadedModel
from lib.serving.csv_io import read_csv_bytes
from lib.training.config import load_config
from lib.training.data import load_dataset, split_rows
from lib.training.families import gradient_boosting

API_RECORDS = 100


def _fit(model: LoadedModel, config_path: str) -> Any:
    config = load_config(config_path)
    dataset = load_dataset(config)
    train = split_rows(dataset.target, config).train
    pipeline = gradient_boosting(dataset.numeric, dataset.categorical, config.training.seed)
    return pipeline.fit(dataset.features.iloc[train][model.schema.names], dataset.target[train])


def _served(model: LoadedModel, pipeline: Any, scorer: Any = None) -> LoadedModel:
    metadata = replace(model.metadata, model=replace(model.metadata.model, family="hist_gradient_boosting"))
    return LoadedModel(model.schema, metadata, model.kpis, "bench", Path(), pipeline=pipeline, scorer=scorer)


def _registry(compiled: LoadedModel, workdir: Path) -> Path:
    """A registry serving the compiled model, for the server benchmark."""
    registry = workdir / "tree-registry"
    version = new_version_id()
    metadata = {**compiled.metadata.to_json(), "scorer": compiled.scorer.kind}
    schema = compiled.schema.to_json()
    write_bundle(
        registry, version, compiled.pipeline, schema, metadata, compiled.kpis.to_json(), stored_form(compiled.scorer)
    )
    point_to(registry, version)
    return registry


def _once(action: Any) -> list[float]:
    started = time.perf_counter()
    action()
    return [time.perf_counter() - started]


def _post_seconds(url: str, body: bytes, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats + 3):  # the first calls warm the server up
        request = urllib.request.Request(
            f"{url}/predict", data=body, headers={"content-type": "application/json"}, method="POST"
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/predict answered {response.status}")
        timings.append(time.perf_counter() - started)
    return timings[3:]


def run(model: LoadedModel, config_path: str, project: Path, workdir: Path, quick: bool) -> list[Measurement]:
    pipeline = _fit(model, config_path)
    compiled = _served(model, pipeline)
    if compiled.scorer.kind != "compiled_trees":
        raise RuntimeError(f"gradient boosting was not compiled: {compiled.scorer.kind}")
    fallback = _served(model, pipeline, PipelineScorer(pipeline, model.schema))
    repeats = 5 if quick else 15
    rows = 5_000 if quick else 100_000
    frame = _rows(model, config_path, rows)
    record = _record(frame, model)
    uploaded = read_csv_bytes(frame.to_csv(index=False).encode(), model.schema)

    def pair(name: str, action: Any, slow_inner: int, fast_inner: int, target: str) -> list[Measurement]:
        slow = sample(lambda: action(fallback), repeats, inner=slow_inner)
        slow_name = f"gradient boosting, pipeline fallback: {name}"
        return [
            micro(slow_name, slow),
            micro(
                f"gradient boosting, compiled trees: {name}",
                sample(lambda: action(compiled), repeats, inner=fast_inner),
                baseline_name=slow_name,
                baseline_median=summary(slow)[0] * 1e6,
                target=target,
            ),
        ]

    results = pair("score_record with reasons", lambda m: score_record(record, m), 2, 200, "<= 100 µs")
    results += pair("score_record, explain=False", lambda m: score_record(record, m, explain=False), 5, 200, "<= 30 µs")
    slow_batch = sample(lambda: score_batch(uploaded, fallback), max(3, repeats // 3))
    slow_name = f"gradient boosting, pipeline fallback: score_batch of an uploaded table, {rows:,} rows"
    results += [
        _throughput(slow_name, slow_batch, rows),
        _throughput(
            f"gradient boosting, compiled trees: score_batch of an uploaded table, {rows:,} rows",
            sample(lambda: score_batch(uploaded, compiled), repeats),
            rows,
            baseline_name=slow_name,
            baseline_median=rows / summary(slow_batch)[0],
            target=">= 1,000,000 rows/s",
        ),
    ]
    return results + _api(compiled, fallback, project, workdir, repeats, quick)


def _api(
    compiled: LoadedModel, fallback: LoadedModel, project: Path, workdir: Path, repeats: int, quick: bool
) -> list[Measurement]:
    """POST /predict with 100 records and their reasons, on a real server with the compiled
    model, against the same records scored in-process through the pipeline."""
    records = varied(compiled, API_RECORDS)
    body = json.dumps({"records": records}).encode()

    if quick:  # a smoke run: a tenth of the records timed once, the seconds scaled (each record costs the same)
        slow = [seconds * 10 for seconds in _once(lambda: score_batch(records[:10], fallback, explain=True))]
    else:
        slow = sample(lambda: score_batch(records, fallback, explain=True), max(3, repeats // 3))
    slow_name = f"gradient boosting, pipeline fallback: {API_RECORDS} records with reasons, in-process"
    if quick:
        slow_name += " (10 timed, x10)"
    registry = _registry(compiled, workdir)
    process, url = start(project, str(registry), workdir / "tree-server.log", UVICORN, ready_path="/health/ready")
    try:
        seconds = _post_seconds(url, body, repeats)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return [
        micro(slow_name, slow),
        micro(
            f"gradient boosting, compiled trees: POST /predict, {API_RECORDS} records with reasons (uvicorn)",
            seconds,
            baseline_name=slow_name,
            baseline_median=summary(slow)[0] * 1e6,
            target="<= 20,000 µs",
        ),
    ]
