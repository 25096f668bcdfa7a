"""A batch streamed through the scorer: each chunk scored into output rows as it is read,
written before the next is read. Every input row gives one output row, in input order:
scored (probability, label, confidence, quality, warnings) or refused (`error` says why).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lib.batch.files import BatchInputError, ChunkWriter, Location, MissingColumns, parts, read_chunks
from lib.model.inference import BatchScore, InvalidInput, score_batch
from lib.model.loaded import LoadedModel

SCORES = pa.schema(
    [
        ("probability", pa.float64()),
        ("label", pa.string()),
        ("predicted_positive", pa.bool_()),
        ("confidence", pa.string()),
        ("quality_score", pa.float64()),
        ("warnings", pa.string()),
        ("error", pa.string()),
    ]
)


@dataclass(frozen=True)
class BatchReport:
    """What a run did: rows read, scored and refused, and how long it took."""

    rows: int
    scored: int
    refused: int
    seconds: float

    def __add__(self, other: BatchReport) -> BatchReport:
        return BatchReport(
            self.rows + other.rows,
            self.scored + other.scored,
            self.refused + other.refused,
            self.seconds + other.seconds,
        )

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def output_schema(model: LoadedModel, part: str | None) -> pa.Schema:
    """row (its position in its file, from 0), the part it came from (a dataset), the
    config's id columns (as text), then the scores."""
    fields = [pa.field("row", pa.int64())]
    if part is not None:
        fields.append(pa.field("part", pa.string()))
    fields += [pa.field(name, pa.string()) for name in model.schema.id_columns]
    return pa.schema(fields + list(SCORES))


def score_chunk(
    model: LoadedModel, chunk: pa.Table, first_row: int, part: str | None = None, with_inputs: bool = False
) -> pa.Table:
    """Output rows for one chunk of input rows (the validation reads it as a CSV is read);
    with_inputs: the input's other columns follow the scores (the page's download)."""
    return scored_chunk(model, chunk, first_row, part, with_inputs)[1]


def scored_chunk(
    model: LoadedModel, chunk: pa.Table, first_row: int, part: str | None = None, with_inputs: bool = False
) -> tuple[BatchScore, pa.Table]:
    """score_chunk, with score_batch's result for the chunk (rows indexed from 0 in it)."""
    rows = chunk.num_rows
    try:
        batch = score_batch(chunk.to_pandas(), model)
    except InvalidInput as exc:  # a feature column is missing: no row of the input can be scored
        raise MissingColumns(str(exc)) from None
    scored = batch.table
    at = scored.index.to_numpy()
    probability = np.full(rows, np.nan)
    probability[at] = scored["probability"].to_numpy()
    has_score = np.zeros(rows, dtype=bool)
    has_score[at] = True

    def spread(column: str, empty: object = None) -> list[object]:
        values = np.full(rows, empty, dtype=object)
        values[at] = scored[column].astype(object).to_numpy()
        return values.tolist()

    errors = [""] * rows
    for error in batch.errors:
        errors[error.index] = "; ".join(f"{p.field or 'row'}: {p.message}" for p in error.problems)
    columns: dict[str, pa.Array] = {"row": pa.array(np.arange(first_row, first_row + rows), pa.int64())}
    if part is not None:
        columns["part"] = pa.array([part] * rows, pa.string())
    for name in model.schema.id_columns:
        present = name in chunk.column_names
        columns[name] = chunk.column(name).cast(pa.string()) if present else pa.nulls(rows, pa.string())
    columns.update(
        {
            "probability": pa.array(probability, pa.float64(), mask=~has_score),
            "label": pa.array(spread("label"), pa.string()),
            "predicted_positive": pa.array(spread("predicted_positive"), pa.bool_()),
            "confidence": pa.array(spread("confidence"), pa.string()),
            "quality_score": pa.array(spread("quality_score"), pa.float64()),
            "warnings": pa.array(spread("warnings", ""), pa.string()),
            "error": pa.array(errors, pa.string()),
        }
    )
    scored_table = pa.table(columns, schema=output_schema(model, part))
    if with_inputs:
        for name in chunk.column_names:
            if name not in scored_table.column_names:
                scored_table = scored_table.append_column(name, chunk.column(name).cast(pa.string()))
    return batch, scored_table


def score_file(
    model: LoadedModel, source: Location, writer: ChunkWriter, part: str | None = None, first_row: int = 0
) -> BatchReport:
    """One input file through the scorer into `writer`, a chunk at a time."""
    return score_chunks(model, read_chunks(source, model.schema), writer, part, first_row)


def score_into(model: LoadedModel, source: Location, target: Location, part: str | None = None) -> BatchReport:
    """One input file into its own output file (a part of a dataset: here, or on a worker)."""
    writer = ChunkWriter(target)
    try:
        return score_file(model, source, writer, part)
    finally:
        writer.close()


def score_chunks(
    model: LoadedModel,
    chunks: Iterable[pa.Table],
    writer: ChunkWriter,
    part: str | None = None,
    first_row: int = 0,
    with_inputs: bool = False,
    observe: Callable[[BatchScore, pa.Table], pa.Table] | None = None,
) -> BatchReport:
    """Chunks of input rows through the scorer into `writer`, each written before the next
    is read; `observe` sees each chunk's scores and output rows before they are written,
    and gives back the rows to write (the page adds their prediction ids)."""
    started = time.perf_counter()
    rows = refused = 0
    for chunk in chunks:
        batch, out = scored_chunk(model, chunk, first_row + rows, part, with_inputs)
        if observe is not None:
            out = observe(batch, out)
        writer.write(spreadsheet_safe(out) if writer.location.format == "csv" else out)
        rows += chunk.num_rows
        refused += out.num_rows - out.column("probability").drop_null().length()
    return BatchReport(rows, rows - refused, refused, time.perf_counter() - started)


def run(
    model: LoadedModel, source: Location, target: Location, progress: Callable[[str], None] | None = None
) -> BatchReport:
    """Score `source` into `target` in this process: a file into a file; a dataset into
    one file (its parts one after the other) or into a folder (a part for each part)."""
    inputs = parts(source)
    dataset = len(inputs) > 1 or inputs[0].path != source.path
    if target.format is None and not dataset:
        raise BatchInputError(
            f"{target.uri}: the output must be a .csv or .parquet file (a folder: for a dataset of parts)"
        )
    one_file = ChunkWriter(target) if target.format is not None else None
    report = BatchReport(0, 0, 0, 0.0)
    try:
        for item in inputs:
            name = item.name_in(source) if dataset else None
            if one_file is not None:
                report += score_file(model, item, one_file, name)
            else:
                report += score_into(model, item, target.child(item.name_in(source)), name)
            if progress:
                progress(f"{item.uri}: {report.rows:,} rows so far")
    finally:
        if one_file is not None:
            one_file.close()
    return report


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """CSV text a spreadsheet would run as a formula gets a leading apostrophe
    (lib.serving.batch.without_formulas: OWASP's rule)."""
    from lib.serving.batch import without_formulas

    text = [name for name in table.column_names if _is_text(table.schema.field(name).type)]
    if not text:
        return table
    frame = without_formulas(table.select(text).to_pandas())
    for name in text:
        table = table.set_column(table.column_names.index(name), name, pa.array(frame[name], pa.string()))
    return table


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
