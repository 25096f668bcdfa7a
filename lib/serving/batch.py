"""Tables as CSV for a spreadsheet (formulas neutralised), and the bundled data's sample."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd


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


def sample_upload(csv_path: Path, separator: str, rows: int = 1000, seed: int = 0) -> bytes:
    """A sample of the bundled data as CSV bytes, so the page can be tried without a file."""
    frame = pd.read_csv(csv_path, sep=separator, dtype=str, keep_default_na=False)
    return to_csv_bytes(frame.sample(min(rows, len(frame)), random_state=seed))
