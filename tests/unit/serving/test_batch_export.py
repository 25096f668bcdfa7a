"""The scored CSV an analyst opens in a spreadsheet runs nothing (issue 12, OWASP's rule),
as the Batch scoring page's download and `python -m lib.batch` write it."""

import csv

import pandas as pd
import pyarrow as pa

from lib.batch.engine import spreadsheet_safe
from lib.batch.files import ChunkWriter, locate


def written(frame: pd.DataFrame, path) -> bytes:
    writer = ChunkWriter(locate(str(path)), csv_eol="\r\n")
    writer.write(spreadsheet_safe(pa.Table.from_pandas(frame, preserve_index=False)))
    writer.close()
    return path.read_bytes()


def test_formula_like_text_is_neutralised_and_numbers_stay_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "customerID": ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x")', "@SUM(A1)", "+1-1", "\tx", "\rx", "ok"],
            "note": ["-x", "-5", "1e3", "=1", "-", "@", None],
            "probability": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
            "tenure": [-1, 2, 3, 4, 5, 6, 7],
        }
    )
    raw = written(frame, tmp_path / "scored.csv")
    assert raw.count(b"\r\n") == 8 and b'"\'\rx"' in raw  # CRLF line ends; a lone CR stays inside its quotes
    with open(tmp_path / "scored.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["customerID"] for r in rows] == [
        "'=cmd|' /C calc'!A0", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1-1", "'\tx", "'\rx", "ok"
    ]  # fmt: skip
    assert [r["note"] for r in rows] == ["'-x", "-5", "1e3", "'=1", "'-", "'@", ""]
    assert [r["probability"] for r in rows][:2] == ["0.1", "-0.2"] and rows[0]["tenure"] == "-1"


def test_a_table_without_risky_cells_is_written_as_it_is(tmp_path):
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.5, -2.0]})
    assert written(frame, tmp_path / "plain.csv") == b'"a","b"\r\n"x",1.5\r\n"y",-2\r\n'
