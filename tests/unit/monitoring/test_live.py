"""Realised performance over a window (issue 18): from the labelled rows when few, from
daily tallies when many, and the two agree; tallies follow every new outcome and every
correction, on both stores; old stores get their tallies when migrated."""

import sqlite3

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lib.monitoring import live
from lib.monitoring.ids import id_text
from lib.monitoring.live import live_realised, live_report, window_start
from lib.monitoring.matching import DAY
from lib.monitoring.outcomes import OutcomeChecker
from lib.monitoring.realised import realised_from_tally, realised_metrics
from lib.monitoring.rollups import LoggedRow
from lib.monitoring.store import REALISED_TABLES, SCHEMA, MonitoringStore
from lib.monitoring.tally import Tally

NOW = 1_790_000_000.0  # a Tuesday, mid-afternoon (UTC)


def labelled(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, rows)
    value = np.round(rng.uniform(20, 120, rows), 2)
    value[::17] = np.nan  # some rows without a value
    return (rng.random(rows) < p).astype(int), p, value


def test_a_tally_gives_the_rows_figures_and_only_the_aucs_move():
    y, p, value = labelled(30_000, seed=4)
    exact = realised_metrics(y, p, 0.35, value)
    tallied = realised_from_tally(Tally.of(y, p, value), 0.35)
    assert tallied.confusion == exact.confusion and tallied.rows == exact.rows
    for name in ("accuracy", "precision", "recall", "f1", "brier"):
        for part in ("value", "low", "high"):
            assert getattr(tallied.figures[name], part) == pytest.approx(getattr(exact.figures[name], part), abs=1e-9)
    assert tallied.figures["roc_auc"].value == pytest.approx(exact.figures["roc_auc"].value, abs=1e-3)
    assert tallied.figures["pr_auc"].value == pytest.approx(exact.figures["pr_auc"].value, abs=2e-3)
    assert tallied.flagged_positive_value == pytest.approx(exact.flagged_positive_value, rel=1e-12)
    assert len(tallied.calibration) == len(exact.calibration)
    for mine, theirs in zip(tallied.calibration, exact.calibration, strict=True):
        assert mine == pytest.approx(theirs, abs=1e-12)


def test_taking_rows_back_out_of_a_tally_leaves_the_others():
    y, p, value = labelled(1_000, seed=5)
    both = Tally.of(y, p, value) + Tally.of(y[:300], p[:300], value[:300], sign=-1.0)
    alone = Tally.of(y[300:], p[300:], value[300:])
    assert np.array_equal(both.counts, alone.counts)
    assert np.allclose(both.data, alone.data)


def scored_rows(
    y: np.ndarray, p: np.ndarray, value: np.ndarray, first_ts: float, version: str = "v1"
) -> list[LoggedRow]:
    """One prediction per row, an hour apart from `first_ts`, ids 1.. in time order."""
    return [
        LoggedRow(first_ts + 3600 * i, "api", version, 1.0, "ok", None, float(p[i]), "x", "{}", i + 1, f"E{i}",
                  None if np.isnan(value[i]) else float(value[i]))
        for i in range(len(y))
    ]  # fmt: skip


def record(store, telco_model, pairs: list[tuple[int, int]]) -> None:
    items = [{"prediction_id": id_text(pid), "outcome": outcome} for pid, outcome in pairs]
    checked = OutcomeChecker(telco_model.schema, received_at=NOW).check(items)
    store.record_outcomes(checked.rows, checked.refused, NOW)


def test_tallies_follow_outcomes_and_corrections_and_both_paths_agree(store, telco_model, monkeypatch):
    y, p, value = labelled(600, seed=6)
    start = window_start("30d", NOW)
    store.write(scored_rows(y, p, value, start), {})  # 600 hours: 25 days of the window
    record(store, telco_model, [(i + 1, 1 - int(y[i])) for i in range(200)])  # 200 wrong at first
    record(store, telco_model, [(i + 1, int(y[i])) for i in range(600)])  # then corrected, and the rest
    days = store.outcome_tallies("v1", start)
    assert sorted(days) == [int(start) + DAY * d for d in range(25)]
    total = sum(days.values(), Tally.empty())
    assert np.array_equal(total.counts, Tally.of(y, p, value).counts)
    from_rows, _, computed = live_realised(store, "v1", 0.35, "30d", NOW)
    assert computed == "rows"
    assert from_rows.figures["roc_auc"].value == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert from_rows.flagged_positive_value == pytest.approx(np.nansum(value[(p >= 0.35) & (y == 1)]))
    monkeypatch.setattr(live, "EXACT_MAX_ROWS", 100)
    from_tallies, _, computed = live_realised(store, "v1", 0.35, "30d", NOW)
    assert computed == "daily tallies" and from_tallies.confusion == from_rows.confusion
    assert from_tallies.figures["brier"].value == pytest.approx(from_rows.figures["brier"].value, abs=1e-12)
    assert from_tallies.flagged_positive_value == pytest.approx(from_rows.flagged_positive_value)
    seven_days, _, _ = live_realised(store, "v1", 0.35, "7d", NOW)  # the window counts predictions by their day
    assert seven_days.rows == sum(ts >= window_start("7d", NOW) for ts in start + 3600 * np.arange(600))


def test_the_report_compares_with_the_test_split_and_shows_coverage(store, telco_model):
    y, p, value = labelled(300, seed=7)
    start = window_start("30d", NOW)
    store.write(scored_rows(y, p, value, start, telco_model.version), {})
    record(store, telco_model, [(i + 1, int(y[i])) for i in range(150)])
    report = live_report(store, telco_model, "30d", NOW)
    assert report["coverage"] == {"labelled": 150, "predictions": 300, "share": 0.5}
    assert report["withheld"] is None and report["version"] == telco_model.version
    assert set(report["test"]) >= {"roc_auc", "precision", "recall", "brier"}
    assert len(report["series"]) == 30 and sum(point["labelled"] for point in report["series"]) == 150
    contacted = report["confusion_matrix"]["tp"] + report["confusion_matrix"]["fp"]
    hits = (p[:150] >= telco_model.threshold) & (y[:150] == 1)
    expected = telco_model.metadata.business.profit(contacted, float(np.nansum(value[:150][hits])))
    assert report["campaign_value"]["realised"] == pytest.approx(expected)


def test_too_few_outcomes_withhold_the_figures_and_say_why(store, telco_model):
    y, p, value = labelled(50, seed=8)
    store.write(scored_rows(y, p, value, window_start("7d", NOW), telco_model.version), {})
    record(store, telco_model, [(i + 1, int(y[i])) for i in range(50)])
    report = live_report(store, telco_model, "7d", NOW)
    assert report["metrics"] == {} and report["campaign_value"] is None
    assert report["withheld"] == "50 labelled predictions; at least 100 are needed"


def test_pruning_drops_old_outcomes_with_their_tallies(tmp_path, telco_model):
    store = MonitoringStore(tmp_path / "m.sqlite3", "r1")
    y, p, value = labelled(10, seed=9)
    store.write(scored_rows(y, p, value, NOW), {})
    record(store, telco_model, [(i + 1, int(y[i])) for i in range(10)])
    store.prune(now=NOW + 200 * DAY)
    assert store._read("SELECT count(*) FROM outcomes") == [(0,)] and store.outcome_tallies("v1", 0) == {}


def test_a_schema_3_store_gets_tallies_for_its_outcomes_when_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA.replace(REALISED_TABLES, "") + "PRAGMA user_version=3;")
    connection.execute("INSERT INTO scores VALUES (1, ?, 'v1', 'api', NULL, 0.8, 'r0')", (NOW,))
    connection.execute("INSERT INTO outcomes VALUES (1, 1, ?, ?, 0, NULL, 'r0')", (NOW, NOW))
    connection.commit()
    connection.close()
    store = MonitoringStore(path, "r1")
    store.open()
    (tally,) = store.outcome_tallies("v1", 0).values()
    assert tally.counts[1, 800] == 1 and tally.rows == 1
