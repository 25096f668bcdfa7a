"""Training data "bundled dataset + recorded outcomes" (issue 18): what POST /train and the
Retrain page start a job with, when asked to learn from the labels that came back."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.model.loaded import LoadedModel
from lib.monitoring.examples import labelled_examples
from lib.monitoring.store import Store
from lib.retraining.upload import bundled_with
from lib.training.config import DatasetConfig

DATA_NAME = "bundled dataset + recorded outcomes"


@dataclass(frozen=True)
class OutcomeData:
    table: pd.DataFrame | None  # None when there are problems
    holdout: pd.DataFrame | None
    name: str  # what the job and its version say they trained on
    problems: list[str]
    summary: str  # for the page: what was found


def outcome_training_data(store: Store, model: LoadedModel, config: DatasetConfig) -> OutcomeData:
    """The bundled dataset with every recorded outcome whose features were logged (raises
    StoreUnavailable); the newest held out for the gate when there are enough."""
    examples = labelled_examples(store, model.schema)
    if examples.rows == 0:
        problem = "no recorded outcome has its prediction's features logged yet"
        return OutcomeData(None, None, DATA_NAME, [problem], problem)
    table, problems = bundled_with(config, examples.train, model.schema.names)
    held = 0 if examples.holdout is None else len(examples.holdout)
    summary = (
        f"{examples.rows:,} recorded outcomes with their features ({examples.duplicates:,} older predictions of "
        f"the same entities left out): {len(examples.train):,} added to the bundled data, "
        + (f"the newest {held:,} held out to compare both models" if held else f"none held out ({examples.no_holdout})")
    )
    name = f"{DATA_NAME} ({len(examples.train):,} outcomes, {held:,} held out)"
    return OutcomeData(table, examples.holdout, name, problems, summary)
