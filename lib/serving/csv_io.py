"""Reading an uploaded CSV for scoring: fast (Arrow's parser) and with clear errors."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from lib.model.schema import FeatureSchema

SEPARATORS = (",", ";", "\t", "|")


class CsvError(ValueError):
    """The bytes are not a CSV this product can read; the message says what to fix."""


def sniff_separator(raw: bytes) -> str:
    """The most frequent candidate separator on the header line (comma when none appears)."""
    header = raw.split(b"\n", 1)[0]
    counts = {separator: header.count(separator.encode()) for separator in SEPARATORS}
    best = max(counts, key=lambda separator: counts[separator])
    return best if counts[best] else ","


def read_csv_bytes(raw: bytes, schema: FeatureSchema, separator: str | None = None) -> pd.DataFrame:
    """Parse CSV bytes into a table; category columns stay text exactly as written.

    Numbers are typed by Arrow; a numeric column holding text stays text, and the
    validation names each cell that does not parse.
    """
    if not raw.strip():
        raise CsvError("the file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as spreadsheet exports write
        raw = raw[3:]
    try:
        raw.split(b"\n", 1)[0].decode("utf-8")  # Arrow checks the cells, not the header
    except UnicodeDecodeError:
        raise CsvError("the file is not UTF-8 text: save it as CSV UTF-8 and upload it again") from None
    separator = separator or sniff_separator(raw)
    # Categories are read as dictionaries: parsed and validated once per distinct value.
    category = pa.dictionary(pa.int32(), pa.string())
    text_columns = {spec.name: category for spec in schema.features if not spec.is_numeric}
    text_columns.update({name: pa.string() for name in [*schema.id_columns, schema.target]})
    try:
        table = pa_csv.read_csv(
            io.BytesIO(raw),
            parse_options=pa_csv.ParseOptions(delimiter=separator),
            convert_options=pa_csv.ConvertOptions(column_types=text_columns),
        )
    except UnicodeDecodeError:
        raise CsvError("the file is not UTF-8 text: save it as CSV UTF-8 and upload it again") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).splitlines()[0][:300]
        raise CsvError(f"the file cannot be read as a CSV separated by {separator!r}: {reason}") from None
    names = table.column_names
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        shown = ", ".join(name[:40] for name in duplicated[:20])
        raise CsvError(f"duplicate column names: {shown}{' and more' if len(duplicated) > 20 else ''}")
    return table.to_pandas()
