"""The training pipeline: `python -m lib.training [--config PATH] [--registry DIR]`.

Load and clean the dataset its config describes, split it (stratified, fixed seed),
compare the candidate families by cross-validation on the training part, refit the
best, choose the threshold on the validation part, evaluate once on the untouched test
part, and write a new bundle version before pointing the registry at it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
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
from sklearn.inspection import permutation_importance
from sklearn.model_selection import StratifiedKFold, cross_validate

from lib.model.bundle import new_version_id, remove_partials, write_bundle
from lib.model.compiled import LinearScorer
from lib.model.inference import score_batch, score_record
from lib.model.loaded import LoadedModel
from lib.model.schema import FeatureSchema
from lib.registry import LocalRegistry, RegistryError
from lib.settings import PROJECT_ROOT, PROMOTION_METRICS, get_settings
from lib.training.config import ConfigError, DatasetConfig, load_config
from lib.training.data import DataError, Dataset, build_schema, file_sha256, load_dataset, split_rows
from lib.training.distributions import feature_distributions
from lib.training.evaluation import (
    business_kpis,
    choose_threshold,
    classification_metrics,
    confidence_bands,
    curves,
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
    metadata: dict[str, Any]
    kpis: dict[str, Any]


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


def feature_importance(pipeline: Any, features: pd.DataFrame, target: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """Permutation importance on the test part: drop in ROC AUC when a feature is shuffled."""
    result = permutation_importance(
        pipeline, features, target, scoring="roc_auc", n_repeats=5, random_state=seed, n_jobs=1
    )
    ranked = sorted(
        zip(features.columns, result.importances_mean, result.importances_std, strict=True), key=lambda r: -r[1]
    )
    return [{"feature": name, "importance": float(mean), "std": float(std)} for name, mean, std in ranked]


def _median_ms(action: Callable[[], Any], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def estimate_latency(model: LoadedModel, test_features: pd.DataFrame) -> dict[str, Any]:
    """Median latencies of the scoring function on this machine, for capacity planning."""
    record = {name: (None if pd.isna(v) else v) for name, v in test_features.iloc[0].items()}
    batch = test_features.reset_index(drop=True)
    batch_ms = _median_ms(lambda: score_batch(batch, model), 3)
    return {
        "single_record_ms": round(_median_ms(lambda: score_record(record, model), 30), 3),
        "single_record_no_reasons_ms": round(_median_ms(lambda: score_record(record, model, explain=False), 30), 3),
        "batch_rows": len(batch),
        "batch_ms": round(batch_ms, 3),
        "batch_rows_per_s": round(len(batch) / (batch_ms / 1000), 1),
        "measured_on": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }


# Both models are compared on every metric the gate may use (PROMOTION_METRIC).
COMPARED = PROMOTION_METRICS
LOWER_IS_BETTER = {"brier", "log_loss"}


def compare_with_champion(
    champion: LoadedModel, test_x: pd.DataFrame, test_y: np.ndarray, test_p: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Both models scored on the same held-out rows: the new model's test split (which is
    the served model's own test split when the data and the seed are the same)."""
    missing = [name for name in champion.schema.names if name not in test_x.columns]
    if missing:
        return {
            "champion_version": champion.version,
            "comparable": False,
            "reason": f"the served model needs columns the new data lacks: {', '.join(missing)}",
        }
    batch = score_batch(test_x[champion.schema.names].reset_index(drop=True), champion, explain=False)
    scored = batch.table.index.to_numpy()  # rows the served model refuses (closed categories) are left out
    if len(scored) < 2 or len(np.unique(test_y[scored])) < 2:
        return {
            "champion_version": champion.version,
            "comparable": False,
            "reason": "the served model refuses too many of the test rows to be compared",
        }
    champion_p = batch.table["probability"].to_numpy()
    mine = classification_metrics(test_y[scored], test_p[scored], threshold)
    theirs = classification_metrics(test_y[scored], champion_p, champion.threshold)
    return {
        "champion_version": champion.version,
        "comparable": True,
        "rows": len(scored),
        "split": "test split of the new model",
        "challenger": {k: mine[k] for k in COMPARED},
        "champion": {k: theirs[k] for k in COMPARED},
        "roc": {
            "challenger": curves(test_y[scored], test_p[scored])["roc"],
            "champion": curves(test_y[scored], champion_p)["roc"],
        },
    }


def gate(comparison: dict[str, Any] | None, metric: str, tolerance: float) -> tuple[bool, str]:
    """Promote automatically unless the new model is worse than the served one by more
    than `tolerance` on `metric`; the sentence says why, for the audit log."""
    if comparison is None:
        return True, "no model was being served"
    if not comparison["comparable"]:
        return False, f"not compared with {comparison['champion_version']}: {comparison['reason']}"
    new, old = comparison["challenger"][metric], comparison["champion"][metric]
    worse_by = (new - old) if metric in LOWER_IS_BETTER else (old - new)
    verdict = f"{metric} {new:.4f} against {old:.4f} for {comparison['champion_version']} (tolerance {tolerance:g})"
    if worse_by > tolerance:
        return False, f"kept as a candidate: {verdict}"
    return True, f"promoted automatically: {verdict}"


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
    seed = config.training.seed
    log(f"[1/{STEPS}] loading {_display_path(config.csv_path)} ({config.name})")
    dataset = load_dataset(config)
    features, target = dataset.features, dataset.target
    log(
        f"      {len(target)} rows ({dataset.rows_dropped} without a target dropped), "
        f"{len(dataset.numeric)} numeric and {len(dataset.categorical)} categorical features, "
        f"positive rate {target.mean():.3f}"
    )

    log(f"[2/{STEPS}] splitting train / validation / test (stratified, seed {seed})")
    split = split_rows(target, config)
    log(f"      {len(split.train)} / {len(split.validation)} / {len(split.test)} rows")
    train_x, train_y = features.iloc[split.train], target[split.train]

    log(f"[3/{STEPS}] comparing {len(CANDIDATES)} candidates by {config.training.cv_folds}-fold cross-validation")
    candidates = cross_validate_candidates(train_x, train_y, dataset, config, log)
    best = max(candidates, key=lambda c: c["cv_roc_auc_mean"])
    log(f"[4/{STEPS}] refitting the best, {best['family']}, on the training part")
    pipeline = CANDIDATES[best["family"]](dataset.numeric, dataset.categorical, seed).fit(train_x, train_y)

    validation_p = pipeline.predict_proba(features.iloc[split.validation])[:, 1]
    validation_y = target[split.validation]
    value = dataset.business_value
    chosen = choose_threshold(
        validation_y, validation_p, None if value is None else value[split.validation], config.business
    )
    threshold = chosen["threshold"]
    log(
        f"[5/{STEPS}] threshold {threshold:.2f} chosen on validation ({chosen['criterion']}: "
        f"{chosen['validation_score']:.4f})"
    )

    log(f"[6/{STEPS}] evaluating on the untouched test part and computing KPIs")
    test_x, test_y = features.iloc[split.test], target[split.test]
    test_p = pipeline.predict_proba(test_x)[:, 1]
    test_metrics = classification_metrics(test_y, test_p, threshold)
    log(
        f"      test ROC AUC {test_metrics['roc_auc']:.4f}, F1 {test_metrics['f1']:.4f}, "
        f"precision {test_metrics['precision']:.4f}, recall {test_metrics['recall']:.4f}"
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
    for candidate in candidates:  # test metrics of every candidate, for the record only
        if candidate["family"] != best["family"]:
            other = CANDIDATES[candidate["family"]](dataset.numeric, dataset.categorical, seed).fit(train_x, train_y)
            candidate["test_roc_auc"] = float(
                classification_metrics(test_y, other.predict_proba(test_x)[:, 1], threshold)["roc_auc"]
            )
        else:
            candidate["test_roc_auc"] = test_metrics["roc_auc"]

    schema = build_schema(dataset, split.train, config)
    base_rate = float(target.mean())
    kpis: dict[str, Any] = {
        "metrics": test_metrics,
        "validation_metrics": classification_metrics(validation_y, validation_p, threshold),
        "threshold_selection": chosen,
        "curves": curves(test_y, test_p),
        "feature_importance": feature_importance(pipeline, test_x, test_y, seed),
        "distributions": feature_distributions(train_x, schema),
        "confidence": confidence_bands(test_y, test_p, threshold),
        "threshold_table": threshold_table(
            test_y, test_p, None if value is None else value[split.test], config.business
        ),
        "business": None
        if config.business is None or value is None
        else business_kpis(test_y, test_p, value[split.test], threshold, config.business, base_rate),
        "base_rate": base_rate,
        "candidates": candidates,
    }
    metadata: dict[str, Any] = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "name": config.name,
            "path": _display_path(config.csv_path),
            "sha256": dataset.sha256,
            "config": _display_path(config.path),
            "config_sha256": file_sha256(config.path),
            "rows_read": dataset.rows_read,
            "rows_used": len(target),
            "rows_dropped": dataset.rows_dropped,
            "columns_dropped": dataset.columns_dropped,
            "rows_train": len(split.train),
            "rows_validation": len(split.validation),
            "rows_test": len(split.test),
            "seed": seed,
        },
        "python_version": platform.python_version(),
        "sklearn_version": sklearn.__version__,
        "pandas_version": pd.__version__,
        "numpy_version": np.__version__,
        "model": {
            "family": best["family"],
            "params": _json_safe(pipeline.named_steps["model"].get_params()),
        },
        "threshold": threshold,
        "threshold_criterion": chosen["criterion"],
        "positive_label": config.positive_label,
        "business": None if config.business is None else asdict(config.business),
        "test_metrics": {k: v for k, v in test_metrics.items() if k != "confusion_matrix"},
        "comparison": comparison,
    }
    in_memory = LoadedModel(
        FeatureSchema.from_json(schema.to_json()), metadata, kpis, "training", Path(), pipeline=pipeline
    )
    metadata["scorer"] = in_memory.scorer.kind
    kpis["latency"] = estimate_latency(in_memory, test_x)
    metadata["training_seconds"] = round(time.perf_counter() - started, 2)

    log(f"[7/{STEPS}] writing bundle {version}")
    removed = remove_partials(registry)
    if removed:
        log(f"      removed {len(removed)} partial folder(s) left by interrupted runs")
    compiled = in_memory.scorer.to_json() if isinstance(in_memory.scorer, LinearScorer) else None
    folder = write_bundle(
        registry, version, pipeline, schema.to_json(), _json_safe(metadata), _json_safe(kpis), compiled
    )
    if serve:  # through the registry, so the switch is audited like every other
        LocalRegistry(registry).promote(version, "training", "served on training (serve=True)")
        seconds = metadata["training_seconds"]
        log(f"      now serving {version} from {_display_path(folder)} (trained in {seconds:.1f} s)")
    else:
        log(f"      written {version} (trained in {metadata['training_seconds']:.1f} s)")
    return TrainingResult(version=version, folder=folder, metadata=metadata, kpis=kpis)


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
