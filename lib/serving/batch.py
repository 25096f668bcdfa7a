"""Batch scoring of an uploaded file: read, score in chunks with progress, report, export."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lib.model.inference import BatchScore, RecordError, score_batch
from lib.model.loaded import LoadedModel
from lib.model.validation import EncodedColumns
from lib.serving.csv_io import CsvError, read_csv_bytes

CHUNK_ROWS = 50_000
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class ScoredUpload:
    """An uploaded table and its scores; `batch.table` is indexed by row position in `rows`."""

    rows: pd.DataFrame
    batch: BatchScore


def score_upload(
    raw: bytes, model: LoadedModel, max_bytes: int, progress: Callable[[float], None] | None = None
) -> ScoredUpload:
    """Read and score a CSV upload; raises CsvError (too big, unreadable) or InvalidInput."""
    if len(raw) > max_bytes:
        raise CsvError(f"the file is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    rows = read_csv_bytes(raw, model.schema)
    if len(rows) > MAX_ROWS:
        raise CsvError(f"the file has {len(rows):,} rows; the limit is {MAX_ROWS:,}: split it")
    if len(rows) == 0:
        raise CsvError("the file has a header but no rows")
    return ScoredUpload(rows=rows, batch=score_in_chunks(rows, model, progress))


def score_in_chunks(
    rows: pd.DataFrame, model: LoadedModel, progress: Callable[[float], None] | None = None
) -> BatchScore:
    """score_batch over slices of CHUNK_ROWS rows, so a progress bar can move on big files."""
    if len(rows) <= CHUNK_ROWS:
        batch = score_batch(rows, model)
        if progress:
            progress(1.0)
        return batch
    parts = []
    for start in range(0, len(rows), CHUNK_ROWS):
        part = score_batch(rows.iloc[start : start + CHUNK_ROWS], model)
        parts.append((start, part))
        if progress:
            progress(min(1.0, (start + CHUNK_ROWS) / len(rows)))
    tables = []
    for start, part in parts:
        table = part.table.copy()
        table.index = table.index + start
        tables.append(table)
    return BatchScore(
        table=pd.concat(tables),
        errors=[RecordError(e.index + start, e.problems) for start, part in parts for e in part.errors],
        warnings={p + start: w for start, part in parts for p, w in part.warnings.items()},
        reasons=None,
        model_version=model.version,
        threshold=model.threshold,
        latency_ms=sum(part.latency_ms for _, part in parts),
        rows_in=len(rows),
        inputs=EncodedColumns.concat([part.inputs for _, part in parts if part.inputs is not None]),
    )


def upload_revenue_at_risk(upload: ScoredUpload, model: LoadedModel) -> float | None:
    """Sum of probability x monthly value x horizon over the scored rows, when the file has
    the dataset config's value column (None otherwise)."""
    business = model.metadata.business
    if not business or business.value_column not in upload.rows.columns:
        return None
    table = upload.batch.table
    value = pd.to_numeric(upload.rows[business.value_column].iloc[table.index], errors="coerce").fillna(0.0)
    return float((table["probability"].to_numpy() * value.to_numpy()).sum() * business.horizon_months)


def refused_rows(errors: list[RecordError]) -> pd.DataFrame:
    """One line per problem; `row` counts data rows from 1 (the header is line 1 of the file)."""
    return pd.DataFrame(
        [
            {"row": error.index + 1, "line": error.index + 2, "field": p.field, "problem": p.message}
            for error in errors
            for p in error.problems
        ],
        columns=["row", "line", "field", "problem"],
    )


def scored_table(upload: ScoredUpload) -> pd.DataFrame:
    """The uploaded columns of every scored row, with the scores, riskiest first."""
    table = upload.batch.table
    scores = {"row": table.index.to_numpy() + 1}
    scores.update(
        {
            column: table[column].to_numpy()
            for column in ("probability", "label", "confidence", "quality_score", "warnings")
        }
    )
    inputs = upload.rows.iloc[table.index].reset_index(drop=True)
    scored = pd.concat([pd.DataFrame(scores), inputs.drop(columns=[c for c in scores if c in inputs])], axis=1)
    return scored.sort_values("probability", ascending=False, kind="stable").reset_index(drop=True)


def filter_scored(scored: pd.DataFrame, labels: list[str], minimum: float, confidence: list[str]) -> pd.DataFrame:
    keep = scored["label"].isin(labels) & (scored["probability"] >= minimum) & scored["confidence"].isin(confidence)
    return scored[keep.to_numpy()]


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


FORMULA_START = r"^[=+\-@\t\r]"


def without_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula (OWASP: starting with = + - @, a tab
    or a carriage return) get a leading apostrophe; numbers, and text that reads as a
    number ("-5"), stay as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    changed = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        text = column.astype("string")
        risky = pc.fill_null(pc.match_substring_regex(pa.array(text, from_pandas=True), FORMULA_START), False)
        risky = risky.to_numpy(zero_copy_only=False).copy()
        if not risky.any():
            continue
        risky &= pd.to_numeric(text.where(risky), errors="coerce").isna().to_numpy(bool)
        if risky.any():
            changed[name] = column.astype(object).where(~risky, "'" + text.astype(object))
    return frame.assign(**changed) if changed else frame


def download_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as CSV to open in a spreadsheet: formula-like text neutralised, and lines
    ended by CRLF (RFC 4180), so a cell holding a lone carriage return is quoted too."""
    buffer = io.StringIO()
    without_formulas(frame).to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8")


def sample_upload(csv_path: Path, separator: str, rows: int = 1000, seed: int = 0) -> bytes:
    """A sample of the bundled data as CSV bytes, so the page can be tried without a file."""
    frame = pd.read_csv(csv_path, sep=separator, dtype=str, keep_default_na=False)
    return to_csv_bytes(frame.sample(min(rows, len(frame)), random_state=seed))
