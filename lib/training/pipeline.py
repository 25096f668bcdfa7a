"""The training pipeline: `python -m lib.training [--config PATH] [--registry DIR]`.

Load and clean the dataset its config describes, split it (stratified, fixed seed),
compare the candidate families by cross-validation on the training part, refit the
best, choose the threshold on the validation part, evaluate once on the untouched test
part, and write a new bundle version before pointing the registry at it.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import StratifiedKFold, cross_validate

from lib.model.bundle import new_version_id, read_contract, remove_partials, write_bundle
from lib.model.compiled import compile_scorer, stored_form
from lib.model.contract import BundleMetadata, TrainingKpis
from lib.model.loaded import LoadedModel
from lib.model.schema import FeatureSchema
from lib.registry import LocalRegistry, RegistryError
from lib.settings import PROJECT_ROOT, get_settings
from lib.training.comparison import compare_with_champion
from lib.training.config import ConfigError, DatasetConfig, load_config
from lib.training.data import DataError, Dataset, Split, build_schema, file_sha256, load_dataset, split_rows
from lib.training.distributions import feature_distributions
from lib.training.evaluation import (
    business_kpis,
    choose_threshold,
    classification_metrics,
    confidence_bands,
    curves,
    estimate_latency,
    feature_importance,
    threshold_table,
)
from lib.training.families import CANDIDATES

CV_SCORING = {
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "brier": "neg_brier_score",
    "log_loss": "neg_log_loss",
}
STEPS = 7


@dataclass(frozen=True)
class TrainingResult:
    version: str
    folder: Path
    metadata: BundleMetadata
    kpis: TrainingKpis


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return repr(value)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return path.name


def cross_validate_candidates(
    features: pd.DataFrame, target: np.ndarray, dataset: Dataset, config: DatasetConfig, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Mean and spread of each candidate's scores over stratified folds of the training part."""
    folds = StratifiedKFold(config.training.cv_folds, shuffle=True, random_state=config.training.seed)
    results = []
    for family, build in CANDIDATES.items():
        started = time.perf_counter()
        pipeline = build(dataset.numeric, dataset.categorical, config.training.seed)
        scores = cross_validate(pipeline, features, target, cv=folds, scoring=CV_SCORING, n_jobs=1)
        summary: dict[str, Any] = {"family": family, "seconds": round(time.perf_counter() - started, 2)}
        for metric in CV_SCORING:
            values = scores[f"test_{metric}"]
            sign = -1.0 if CV_SCORING[metric].startswith("neg_") else 1.0
            summary[f"cv_{metric}_mean"] = float(sign * values.mean())
            summary[f"cv_{metric}_std"] = float(values.std())
        results.append(summary)
        log(
            f"      {family}: ROC AUC {summary['cv_roc_auc_mean']:.4f} ± {summary['cv_roc_auc_std']:.4f} "
            f"(PR AUC {summary['cv_pr_auc_mean']:.4f}, {summary['seconds']:.1f} s)"
        )
    return results


@dataclass(frozen=True)
class _Evaluation:
    """What step 6 measured on the untouched test part."""

    test_x: pd.DataFrame
    test_y: np.ndarray
    test_p: np.ndarray
    metrics: dict[str, Any]
    comparison: dict[str, Any] | None


def train(
    config: DatasetConfig,
    registry: Path,
    log: Callable[[str], None] = print,
    *,
    serve: bool = True,
    champion: LoadedModel | None = None,
) -> TrainingResult:
    """Run the whole pipeline and write a new version; serve it when `serve` (the previous
    one stays served until the end). With a champion, both are compared on the test split."""
    started = time.perf_counter()
    version = new_version_id()
    log(f"[1/{STEPS}] loading {_display_path(config.csv_path)} ({config.name})")
    dataset = load_dataset(config)
    log(
        f"      {len(dataset.target)} rows ({dataset.rows_dropped} without a target dropped), "
        f"{len(dataset.numeric)} numeric and {len(dataset.categorical)} categorical features, "
        f"positive rate {dataset.target.mean():.3f}"
    )
    log(f"[2/{STEPS}] splitting train / validation / test (stratified, seed {config.training.seed})")
    split = split_rows(dataset.target, config)
    log(f"      {len(split.train)} / {len(split.validation)} / {len(split.test)} rows")
    candidates, best, pipeline = _select_and_refit(dataset, split, config, log)
    chosen, validation_p = _choose_threshold(pipeline, dataset, split, config, log)
    log(f"[6/{STEPS}] evaluating on the untouched test part and computing KPIs")
    evaluation = _evaluate(pipeline, dataset, split, chosen["threshold"], champion, log)
    schema = build_schema(dataset, split.train, config)
    serving_schema = FeatureSchema.from_json(schema.to_json())  # as serving will read it
    scorer = compile_scorer(pipeline, serving_schema)
    _test_every_candidate(candidates, best, dataset, split, config, evaluation, serving_schema, scorer.kind, log)
    kpis = _training_kpis(pipeline, dataset, split, config, schema, chosen, validation_p, evaluation, candidates)
    metadata = _training_metadata(version, pipeline, dataset, split, config, best, chosen, evaluation)
    # The model as serving will see it, to measure its latency (the checksums come on writing).
    in_memory = LoadedModel(
        serving_schema,
        BundleMetadata.from_json({**_json_safe(metadata), "model_sha256": "(not written yet)"}),
        TrainingKpis.from_json(_json_safe(kpis), schema.names),
        "training",
        Path(),
        pipeline=pipeline,
        scorer=scorer,
    )
    metadata["scorer"] = in_memory.scorer.kind
    kpis["latency"] = estimate_latency(in_memory, evaluation.test_x)
    metadata["training_seconds"] = round(time.perf_counter() - started, 2)
    compiled = stored_form(in_memory.scorer)
    return _write(registry, version, pipeline, schema, metadata, kpis, compiled, serve, log)


def _select_and_refit(
    dataset: Dataset, split: Split, config: DatasetConfig, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """Steps 3 and 4: cross-validate every family on the training part, refit the best."""
    train_x, train_y = dataset.features.iloc[split.train], dataset.target[split.train]
    log(f"[3/{STEPS}] comparing {len(CANDIDATES)} candidates by {config.training.cv_folds}-fold cross-validation")
    candidates = cross_validate_candidates(train_x, train_y, dataset, config, log)
    best = max(candidates, key=lambda c: c["cv_roc_auc_mean"])
    log(f"[4/{STEPS}] refitting the best, {best['family']}, on the training part")
    pipeline = CANDIDATES[best["family"]](dataset.numeric, dataset.categorical, config.training.seed)
    return candidates, best, pipeline.fit(train_x, train_y)


def _choose_threshold(
    pipeline: Any, dataset: Dataset, split: Split, config: DatasetConfig, log: Callable[[str], None]
) -> tuple[dict[str, Any], np.ndarray]:
    """Step 5: the threshold, chosen on the validation part (by profit when there is a
    [business] section, else by F1), and the validation probabilities."""
    validation_p = pipeline.predict_proba(dataset.features.iloc[split.validation])[:, 1]
    value = dataset.business_value
    chosen = choose_threshold(
        dataset.target[split.validation],
        validation_p,
        None if value is None else value[split.validation],
        config.business,
    )
    log(
        f"[5/{STEPS}] threshold {chosen['threshold']:.2f} chosen on validation ({chosen['criterion']}: "
        f"{chosen['validation_score']:.4f})"
    )
    return chosen, validation_p


def _evaluate(
    pipeline: Any,
    dataset: Dataset,
    split: Split,
    threshold: float,
    champion: LoadedModel | None,
    log: Callable[[str], None],
) -> _Evaluation:
    """Step 6: test metrics, and the served model scored on the same rows when there is one."""
    test_x, test_y = dataset.features.iloc[split.test], dataset.target[split.test]
    test_p = pipeline.predict_proba(test_x)[:, 1]
    metrics = classification_metrics(test_y, test_p, threshold)
    log(
        f"      test ROC AUC {metrics['roc_auc']:.4f}, F1 {metrics['f1']:.4f}, "
        f"precision {metrics['precision']:.4f}, recall {metrics['recall']:.4f}"
    )
    comparison = None
    if champion is not None:
        comparison = compare_with_champion(champion, test_x, test_y, test_p, threshold)
        if comparison["comparable"]:
            log(
                f"      served model {champion.version} on the same rows: ROC AUC "
                f"{comparison['champion']['roc_auc']:.4f} (new: {comparison['challenger']['roc_auc']:.4f})"
            )
        else:
            log(f"      not compared with the served model: {comparison['reason']}")
    return _Evaluation(test_x, test_y, test_p, metrics, comparison)


def _test_every_candidate(
    candidates: list[dict[str, Any]],
    best: dict[str, Any],
    dataset: Dataset,
    split: Split,
    config: DatasetConfig,
    evaluation: _Evaluation,
    schema: FeatureSchema,
    best_scorer: str,
    log: Callable[[str], None],
) -> None:
    """Each candidate's test ROC AUC and the scorer it would be served with, for the
    record only (the choice was made by cross-validation, every family on equal terms)."""
    train_x, train_y = dataset.features.iloc[split.train], dataset.target[split.train]
    threshold = evaluation.metrics["threshold"]
    for candidate in candidates:
        if candidate["family"] == best["family"]:
            candidate["test_roc_auc"], candidate["scorer"] = evaluation.metrics["roc_auc"], best_scorer
        else:
            other = CANDIDATES[candidate["family"]](dataset.numeric, dataset.categorical, config.training.seed)
            other.fit(train_x, train_y)
            other_p = other.predict_proba(evaluation.test_x)[:, 1]
            candidate["test_roc_auc"] = float(classification_metrics(evaluation.test_y, other_p, threshold)["roc_auc"])
            candidate["scorer"] = compile_scorer(other, schema).kind
        log(f"      {candidate['family']}: test ROC AUC {candidate['test_roc_auc']:.4f}, {candidate['scorer']} scorer")


def _training_kpis(
    pipeline: Any,
    dataset: Dataset,
    split: Split,
    config: DatasetConfig,
    schema: FeatureSchema,
    chosen: dict[str, Any],
    validation_p: np.ndarray,
    evaluation: _Evaluation,
    candidates: list[dict[str, Any]],
) -> dict[str, Any]:
    """kpis.json (see lib.model.contract.TrainingKpis)."""
    threshold, test_y, test_p = chosen["threshold"], evaluation.test_y, evaluation.test_p
    value = dataset.business_value
    test_value = None if value is None else value[split.test]
    base_rate = float(dataset.target.mean())
    return {
        "metrics": evaluation.metrics,
        "validation_metrics": classification_metrics(dataset.target[split.validation], validation_p, threshold),
        "threshold_selection": chosen,
        "curves": curves(test_y, test_p),
        "feature_importance": feature_importance(pipeline, evaluation.test_x, test_y, config.training.seed),
        "distributions": feature_distributions(dataset.features.iloc[split.train], schema),
        "confidence": confidence_bands(test_y, test_p, threshold),
        "threshold_table": threshold_table(test_y, test_p, test_value, config.business),
        "business": None
        if config.business is None or test_value is None
        else business_kpis(test_y, test_p, test_value, threshold, config.business, base_rate),
        "base_rate": base_rate,
        "candidates": candidates,
    }


def _training_metadata(
    version: str,
    pipeline: Any,
    dataset: Dataset,
    split: Split,
    config: DatasetConfig,
    best: dict[str, Any],
    chosen: dict[str, Any],
    evaluation: _Evaluation,
) -> dict[str, Any]:
    """metadata.json without its checksums (see lib.model.contract.BundleMetadata)."""
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "name": config.name,
            "path": _display_path(config.csv_path),
            "sha256": dataset.sha256,
            "config": _display_path(config.path),
            "config_sha256": file_sha256(config.path),
            "rows_read": dataset.rows_read,
            "rows_used": len(dataset.target),
            "rows_dropped": dataset.rows_dropped,
            "columns_dropped": dataset.columns_dropped,
            "rows_train": len(split.train),
            "rows_validation": len(split.validation),
            "rows_test": len(split.test),
            "seed": config.training.seed,
        },
        "python_version": platform.python_version(),
        "sklearn_version": sklearn.__version__,
        "pandas_version": pd.__version__,
        "numpy_version": np.__version__,
        "model": {"family": best["family"], "params": _json_safe(pipeline.named_steps["model"].get_params())},
        "threshold": chosen["threshold"],
        "threshold_criterion": chosen["criterion"],
        "positive_label": config.positive_label,
        "outcome": asdict(config.outcome_for(dataset.negative_label)),
        "business": None if config.business is None else asdict(config.business),
        "test_metrics": {k: v for k, v in evaluation.metrics.items() if k != "confusion_matrix"},
        "comparison": evaluation.comparison,
    }


def _write(
    registry: Path,
    version: str,
    pipeline: Any,
    schema: FeatureSchema,
    metadata: dict[str, Any],
    kpis: dict[str, Any],
    compiled: dict[str, Any] | None,
    serve: bool,
    log: Callable[[str], None],
) -> TrainingResult:
    """Step 7: the bundle, read back through the serving contract (training can never
    write a bundle serving refuses), then served when `serve`."""
    log(f"[7/{STEPS}] writing bundle {version}")
    removed = remove_partials(registry)
    if removed:
        log(f"      removed {len(removed)} partial folder(s) left by interrupted runs")
    folder = write_bundle(
        registry, version, pipeline, schema.to_json(), _json_safe(metadata), _json_safe(kpis), compiled
    )
    written = read_contract(folder, schema.names)
    seconds = written.metadata.training_seconds or 0.0
    if serve:  # through the registry, so the switch is audited like every other
        LocalRegistry(registry).promote(version, "training", "served on training (serve=True)")
        log(f"      now serving {version} from {_display_path(folder)} (trained in {seconds:.1f} s)")
    else:
        log(f"      written {version} (trained in {seconds:.1f} s)")
    return TrainingResult(version=version, folder=folder, metadata=written.metadata, kpis=written.kpis)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.training", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="dataset config (default: DATA_CONFIG)")
    parser.add_argument("--registry", type=Path, help="model registry folder (default: MODEL_URI)")
    args = parser.parse_args(argv)
    settings = get_settings()
    registry = args.registry
    if registry is None:
        if settings.model_uri.startswith("s3://"):
            print("training writes to a local registry: pass --registry DIR (MODEL_URI is an S3 URI)", file=sys.stderr)
            return 2
        registry = Path(settings.model_uri)
    try:
        result = train(load_config(args.config or settings.data_config), registry, serve=False)
        LocalRegistry(registry).promote(result.version, "command line", "trained with python -m lib.training")
        print(f"      now serving {result.version}")
    except (ConfigError, DataError, RegistryError) as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("training interrupted: the served version is unchanged", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
