"""The scored CSV an analyst opens in a spreadsheet runs nothing (issue 12, OWASP's rule)."""

import csv
import io

import pandas as pd

from lib.serving.batch import download_csv_bytes, to_csv_bytes


def test_formula_like_text_is_neutralised_and_numbers_stay_numbers():
    frame = pd.DataFrame(
        {
            "customerID": ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x")', "@SUM(A1)", "+1-1", "\tx", "\rx", "ok"],
            "note": pd.Categorical(["-x", "-5", "1e3", "=1", "-", "@", None]),
            "probability": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
            "tenure": [-1, 2, 3, 4, 5, 6, 7],
        }
    )
    rows = list(csv.DictReader(io.StringIO(download_csv_bytes(frame).decode(), newline="")))
    assert [r["customerID"] for r in rows] == [
        "'=cmd|' /C calc'!A0", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1-1", "'\tx", "'\rx", "ok"
    ]  # fmt: skip
    assert [r["note"] for r in rows] == ["'-x", "-5", "1e3", "'=1", "'-", "'@", ""]
    assert [r["probability"] for r in rows][:2] == ["0.1", "-0.2"] and rows[0]["tenure"] == "-1"


def test_a_table_without_risky_cells_is_written_as_it_is():
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.5, -2.0]})
    assert download_csv_bytes(frame) == to_csv_bytes(frame).replace(b"\n", b"\r\n")
