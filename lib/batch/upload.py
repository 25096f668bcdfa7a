"""The Batch scoring page's upload, streamed: the file's rows read a chunk at a time,
each chunk validated, scored, logged and written to the download before the next is read.

The page keeps only what it shows, whatever the file's size: the counts, each scored
row's probability, label and confidence (for the filters' counts and the histogram, 10
bytes a row), the refused rows' first REFUSED_SHOWN problems, and the riskiest TOP_ROWS
scored rows of each label and confidence band with their input columns. Those hold the
riskiest TOP_ROWS rows of any choice of the page's filters (labels, bands, a minimum
probability), so its table is exact. Every row, scored or refused, is in the download,
in file order, with its reason when refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lib.batch.engine import score_chunks
from lib.batch.files import HEAD_BYTES, BatchInputError, ChunkWriter, csv_chunks, locate
from lib.model.confidence import CONFIDENCE_NAMES
from lib.model.inference import BatchScore
from lib.model.loaded import LoadedModel
from lib.serving.scoring import log_refusal, log_scored_rows
from lib.storage.downloads import Download, downloads

TOP_ROWS = 1000  # rows the page's table shows at most
REFUSED_SHOWN = 1000  # refused problems listed on the page (every one is in the download)
MAX_ROWS = 2_000_000
SHOWN_SCORES = ["row", "prediction_id", "probability", "label", "confidence", "quality_score", "warnings"]
REFUSED_COLUMNS = ["row", "line", "field", "problem"]
ENGINE_ONLY = {"predicted_positive", "error", "part"}  # in the download, not in the page's table


@dataclass(frozen=True)
class ScoredFile:
    """What the page keeps of one scored file."""

    name: str
    model_version: str
    labels: tuple[str, str]  # the positive and the negative label
    rows_in: int
    refused: int
    refused_lines: pd.DataFrame  # row (from 1), line, field, problem: the first REFUSED_SHOWN
    probability: np.ndarray  # each scored row's, in file order
    positive: np.ndarray  # bool: at or above the threshold
    confidence: np.ndarray  # int8: a position in CONFIDENCE_NAMES
    top: pd.DataFrame  # the riskiest TOP_ROWS of each (label, band), riskiest first
    value_at_risk: float | None  # probability x value x horizon, summed; None: no value column
    download: Download

    @property
    def scored(self) -> int:
        return len(self.probability)

    @property
    def flagged(self) -> int:
        return int(self.positive.sum())

    def matching(self, labels: list[str], minimum: float, bands: list[str]) -> tuple[int, pd.DataFrame]:
        """How many scored rows the filters keep, and the riskiest TOP_ROWS of them."""
        keep = np.zeros(self.scored, dtype=bool)
        if self.labels[0] in labels:
            keep |= self.positive
        if self.labels[1] in labels:
            keep |= ~self.positive
        keep &= self.probability >= minimum
        keep &= np.isin(self.confidence, [CONFIDENCE_NAMES.index(band) for band in bands if band in CONFIDENCE_NAMES])
        top = self.top
        shown = top["label"].isin(labels) & (top["probability"] >= minimum) & top["confidence"].isin(bands)
        return int(keep.sum()), top[shown.to_numpy()].head(TOP_ROWS).reset_index(drop=True)


class _Summary:
    """Builds a ScoredFile's contents chunk by chunk (the engine's `observe`)."""

    def __init__(self, model: LoadedModel, batch_rows: int, started: float) -> None:
        business = model.metadata.business
        self.model, self.batch_rows = model, batch_rows
        self.value_column = business.value_column if business else None
        self.horizon = business.horizon_months if business else 0.0
        self.chunk_started = started
        self.rows = self.scored = self.refused = 0
        self.refused_lines: list[dict[str, object]] = []
        self.probability: list[np.ndarray] = []
        self.positive: list[np.ndarray] = []
        self.confidence: list[np.ndarray] = []
        self.top = pd.DataFrame()
        self.value_at_risk: float | None = None  # stays None when the file has no value column

    def __call__(self, batch: BatchScore, out: pa.Table) -> pa.Table:
        """Log the chunk's rows, keep what the page shows, and give back its output rows
        with their prediction ids (after `row`)."""
        first_row = self.rows + 1  # rows count from 1 on the page, as in the download
        now = time.perf_counter()
        share_ms = (now - self.chunk_started) * 1000 / max(out.num_rows, 1)
        self.chunk_started = now
        table = batch.table
        at = table.index.to_numpy()
        id_values = {name: out.column(name).take(at).to_pylist() for name in self.model.schema.id_columns}
        ids = np.full(out.num_rows, None, dtype=object)
        ids[at] = log_scored_rows(batch, self.model, share_ms, self.batch_rows, self.scored, id_values)
        out = out.add_column(1, "prediction_id", pa.array(ids, pa.string()))
        probability = table["probability"].to_numpy(dtype=np.float64)
        self.probability.append(probability)
        self.positive.append(table["predicted_positive"].to_numpy(dtype=bool))
        self.confidence.append(table["confidence"].cat.codes.to_numpy(dtype=np.int8))
        for error in batch.errors:
            for problem in error.problems:
                if len(self.refused_lines) < REFUSED_SHOWN:
                    row = first_row + error.index
                    self.refused_lines.append(
                        {"row": row, "line": row + 1, "field": problem.field, "problem": problem.message}
                    )
        self.refused += len(batch.errors)
        if self.value_column is not None and self.value_column in out.column_names:
            value = pd.to_numeric(out.column(self.value_column).take(at).to_pandas(), errors="coerce")
            self.value_at_risk = (self.value_at_risk or 0.0) + float((probability * value.fillna(0.0).to_numpy()).sum())
        self._keep_riskiest(table, at, out)
        self.rows += out.num_rows
        self.scored += len(at)
        return out

    def _keep_riskiest(self, table: pd.DataFrame, at: np.ndarray, out: pa.Table) -> None:
        """The chunk's riskiest TOP_ROWS of each (label, band) join those kept so far."""
        if not len(at):
            return
        group = table["predicted_positive"].to_numpy(dtype=np.int8) * 4 + table["confidence"].cat.codes.to_numpy()
        order = np.lexsort((at, -table["probability"].to_numpy()))  # riskiest first, then file order
        ranked = group[order]
        rank_in_group = np.zeros(len(order), dtype=np.int64)
        for value in np.unique(ranked):
            members = ranked == value
            rank_in_group[members] = np.arange(members.sum())
        candidates = np.sort(at[order[rank_in_group < TOP_ROWS]])
        rows = out.take(pa.array(candidates)).to_pandas()
        inputs = [name for name in rows.columns if name not in SHOWN_SCORES and name not in ENGINE_ONLY]
        rows = rows[SHOWN_SCORES + inputs]
        for spec in self.model.schema.features:
            if spec.is_numeric and spec.name in rows:
                rows[spec.name] = pd.to_numeric(rows[spec.name], errors="coerce")
        merged = pd.concat([self.top, rows], ignore_index=True) if len(self.top) else rows
        merged = merged.sort_values(["probability", "row"], ascending=[False, True], kind="stable")
        self.top = merged.groupby(["label", "confidence"], sort=False).head(TOP_ROWS).reset_index(drop=True)

    def finish(self, name: str, download: Download) -> ScoredFile:
        schema = self.model.schema
        return ScoredFile(
            name=name,
            model_version=self.model.version,
            labels=(schema.positive_label, schema.negative_label),
            rows_in=self.rows,
            refused=self.refused,
            refused_lines=pd.DataFrame(self.refused_lines, columns=REFUSED_COLUMNS),
            probability=_joined(self.probability, np.float64),
            positive=_joined(self.positive, bool),
            confidence=_joined(self.confidence, np.int8),
            top=self.top if len(self.top) else pd.DataFrame(columns=SHOWN_SCORES),
            value_at_risk=None if self.value_at_risk is None else self.value_at_risk * self.horizon,
            download=download,
        )


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def rows_at_most(data: memoryview) -> int:
    """The upload's newlines, counted 16 MB at a time: at least its data rows (one ends
    the header; a quoted cell may hold more)."""
    step = 16 * 1024 * 1024
    return sum(bytes(data[start : start + step]).count(b"\n") for start in range(0, len(data), step))


def score_uploaded_file(
    data: memoryview,
    name: str,
    owner: str,
    model: LoadedModel,
    progress: Callable[[float], None] | None = None,
) -> ScoredFile:
    """Stream an uploaded CSV (its bytes, as the upload holds them) through the scorer
    into a download for the browser session `owner`; BatchInputError says why a file
    cannot be scored (and the refusal is logged)."""
    started = time.perf_counter()
    most = rows_at_most(data)
    if most > MAX_ROWS:
        log_refusal("batch", model.version, started, "too_large")
        raise BatchInputError(f"the file has more than {MAX_ROWS:,} lines; the limit is {MAX_ROWS:,} rows: split it")
    summary = _Summary(model, max(most, 1), started)
    download = downloads.new(owner, f"scored-{_csv_name(name)}", "text/csv; charset=utf-8")
    source = pa.BufferReader(pa.py_buffer(data))
    writer = ChunkWriter(locate(str(download.path)), csv_eol="\r\n")

    def observe(batch: BatchScore, out: pa.Table) -> pa.Table:
        out = summary(batch, out)
        if progress:
            progress(min(1.0, source.tell() / max(len(data), 1)))
        return out

    try:
        score_chunks(
            model,
            csv_chunks(source, bytes(data[:HEAD_BYTES]), model.schema),
            writer,
            first_row=1,
            with_inputs=True,
            observe=observe,
        )
        writer.close()
        if summary.rows == 0:
            raise BatchInputError("the file has a header but no rows")
    except BatchInputError as exc:
        writer.close()
        downloads.drop(download)
        log_refusal("batch", model.version, started, exc.kind)
        raise
    except BaseException:
        writer.close()
        downloads.drop(download)
        raise
    return summary.finish(name, download)


def _csv_name(name: str) -> str:
    """The upload's name as a .csv file name (the browser sanitises it further)."""
    stem = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:120] or "upload"
    return stem if stem.lower().endswith(".csv") else f"{stem}.csv"
