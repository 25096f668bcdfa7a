"""The prediction log: counts on training bins, small transactions, and what happens when the
store file is deleted, made read-only or grows past its cap."""

import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pytest

import lib.monitoring.log
import lib.serving.scoring
from lib.batch.upload import score_uploaded_file
from lib.model.inference import score_batch, score_record
from lib.monitoring.log import WRITE_MAX_ROWS, PredictionLog
from lib.monitoring.store import StoreUnavailable
from lib.settings import PROJECT_ROOT


@pytest.fixture
def log(tmp_path):
    log = PredictionLog(tmp_path / "log" / "monitoring.sqlite3", raw_max_age_s=30 * 86_400, raw_max_rows=1_000_000)
    yield log
    log.stop()
    subprocess.run(["chattr", "-i", str(log.path)], check=False, capture_output=True)


def test_the_log_counts_records_tables_and_failures_on_training_bins(log, telco_model):
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    one = {**customer, "tenure": 1.0, "Contract": "Two year"}
    log.log_records(telco_model, "ui", [one], [score_record(one, telco_model)], 0.02)
    batch = score_batch(pd.DataFrame([customer] * 3), telco_model)
    log.log_columns(telco_model, "batch", batch.inputs, batch.table["probability"].to_numpy(), ["No"] * 3, 0.001)
    log.log_failure("api", None, 1.5, "malformed_json")
    log.flush()
    assert log.status()["state"] == "ok" and log.written_rows == 5
    assert log.totals() == {"ui": 1, "batch": 3}
    drift = log.drift(telco_model, "1h")
    contract = drift["features"]["Contract"]
    assert contract["recent_counts"][contract["bins"].index("Two year")] == 1
    assert contract["recent_counts"][contract["bins"].index(customer["Contract"])] == 3
    tenure = drift["features"]["tenure"]
    assert tenure["recent_rows"] == 4 and tenure["recent_counts"][0] == 1  # tenure 1 in the first bin
    assert tenure["status"] == "too_few"  # fewer than 100 recent inputs: PSI without a status
    assert drift["probability"]["recent_rows"] == 4
    system = log.system("5m")
    assert system["by_source"]["api"]["errors"] == 1 and system["by_version"]["none"]["requests"] == 1
    raw = sqlite3.connect(log.path).execute("SELECT source, features FROM predictions ORDER BY rowid").fetchall()
    assert '"Contract":"Two year"' in raw[0][1] and '"Contract":"' in raw[1][1] and raw[4] == ("api", None)


def test_a_big_upload_is_logged_in_small_transactions_with_shared_label_strings(log, telco_model, monkeypatch):
    """A string per row would be thousands of small objects living until the writer gets to
    them; spread over the allocator's arenas, they kept memory after the session ended."""
    monkeypatch.setattr(lib.serving.scoring, "prediction_log", lambda: log)
    labels, writes = [], []
    log_columns, write = log.log_columns, log.store.write
    monkeypatch.setattr(
        log, "log_columns", lambda *args, **kwargs: (labels.extend(args[4]), log_columns(*args, **kwargs))
    )
    monkeypatch.setattr(
        log.store, "write", lambda rows, counts, counted=(): (writes.append(len(rows)), write(rows, counts, counted))
    )
    raw = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes()
    scored = score_uploaded_file(memoryview(raw), "telco.csv", "session", telco_model)
    log.flush()
    assert len(labels) == scored.scored and len({id(label) for label in labels}) == 2
    assert sum(writes) == scored.scored > 3 * WRITE_MAX_ROWS and max(writes) <= WRITE_MAX_ROWS
    logged = sqlite3.connect(log.path).execute("SELECT label FROM predictions ORDER BY rowid").fetchall()
    expected = np.where(scored.positive, telco_model.schema.positive_label, telco_model.schema.negative_label)
    assert [label for (label,) in logged] == expected.tolist()


def chattr(flag: str, path) -> None:
    """The only way to make a file read-only for root too: the immutable attribute."""
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"chattr {flag} failed (e2fsprogs installed? filesystem supports it?): {done.stderr}"


def log_one(log, model, customer):
    log.log_records(model, "api", [customer], [score_record(customer, model)], 0.05)


def test_a_deleted_store_is_reported_then_recreated(log, telco_model, monkeypatch):
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    log_one(log, telco_model, customer)
    log.flush()
    for suffix in ("", "-wal", "-shm"):
        log.path.with_name(log.path.name + suffix).unlink(missing_ok=True)
    log_one(log, telco_model, customer)  # predicting goes on
    log.flush()
    status = log.status()
    assert status["state"] == "degraded" and "was deleted" in status["reason"] and status["pending_rows"] == 1
    log.flush()  # within RETRY_S: no new attempt
    assert log.status()["state"] == "degraded"
    monkeypatch.setattr(lib.monitoring.log, "RETRY_S", 0.0)
    log._retry_at = 0.0
    log.flush()
    assert log.status()["state"] == "ok" and log.path.exists()
    assert log.totals() == {"api": 1}  # the waiting row landed in the new file


def test_a_read_only_store_keeps_predictions_waiting_until_it_is_writable(log, telco_model):
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    log_one(log, telco_model, customer)
    log.flush()
    chattr("+i", log.path)
    for _ in range(3):
        log_one(log, telco_model, customer)
    log.flush(force=True)
    status = log.status()
    assert status["state"] == "degraded" and "read-only" in status["reason"] and status["pending_rows"] == 3
    log.flush(force=True)  # still read-only: still degraded, nothing lost
    assert log.status()["pending_rows"] == 3
    chattr("-i", log.path)
    log.flush(force=True)
    assert log.status()["state"] == "ok" and log.status()["pending_rows"] == 0
    assert log.totals() == {"api": 4}


def test_while_the_store_is_down_the_backlog_is_bounded_and_drops_are_counted(log, telco_model, monkeypatch):
    monkeypatch.setattr(lib.monitoring.log, "MAX_BACKLOG_ROWS", 5)
    log.path.parent.mkdir(parents=True)
    log.path.mkdir()  # a folder where the file should be: cannot be opened
    for _ in range(8):
        log.log_failure("api", "v1", 1.0, "invalid_input")
    log.flush(force=True)
    status = log.status()
    assert status["state"] == "degraded" and status["pending_rows"] == 5 and status["dropped_rows"] == 3
    with pytest.raises(StoreUnavailable):
        log.system("5m")


def test_the_log_prunes_with_its_configured_retention(tmp_path):
    log = PredictionLog(tmp_path / "monitoring.sqlite3", raw_max_age_s=30 * 86_400, raw_max_rows=5)
    try:
        for _ in range(8):
            log.log_failure("api", "v1", 1.0, "invalid_input")
        log.flush()
        assert log.prune()["raw_by_count"] == 3
        assert log.store.raw_count() == 5
        assert log.system("5m")["requests"] == 8  # rollups keep the whole count
    finally:
        log.stop()


def test_an_item_that_cannot_be_written_is_dropped_not_blocking(log, telco_model):
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    prediction = score_record(customer, telco_model)
    log.log_records(telco_model, "api", [{**customer, "tenure": "not a number"}], [prediction], 0.1)
    log.log_records(telco_model, "api", [customer], [prediction], 0.1)
    log.flush()
    assert log.status()["dropped_rows"] == 1 and log.status()["state"] == "ok"
    assert log.totals() == {"api": 1}


def test_the_store_never_grows_past_its_byte_cap(tmp_path, telco_model):
    """A flood of predictions (each logging its features) against MONITORING_MAX_MB = 2."""
    cap = 2_000_000
    log = PredictionLog(tmp_path / "monitoring.sqlite3", 30 * 86_400, 1_000_000, max_bytes=cap)
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    prediction = score_record(record, telco_model)
    try:
        for _ in range(20):  # 20 flushes of 1,000 logged predictions, about 700 bytes each
            log.log_records(telco_model, "api", [record] * 1000, [prediction] * 1000, 0.1)
            log.flush()
            assert log.store.size_bytes() <= cap * 1.2  # the file plus its write-ahead log
        assert log.trimmed_rows > 0 and log.store.raw_count() < 20_000
        assert log.system("5m")["requests"] == 20_000  # the rollups still count every prediction
        assert log.status()["trimmed_rows"] == log.trimmed_rows
    finally:
        log.stop()


def test_a_postgresql_outage_degrades_the_log_and_every_queued_row_lands_after(postgres_server, telco_model):
    from lib.monitoring.postgres import PostgresStore
    from tests.helpers import wait_for

    store = PostgresStore(postgres_server.new_database(), "replica-a")
    log = PredictionLog(store, raw_max_age_s=30 * 86_400, raw_max_rows=1_000_000)
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    try:
        log_one(log, telco_model, customer)
        log.flush()
        assert log.status()["backend"] == "postgresql" and log.totals() == {"api": 1}
        postgres_server.stop()
        for _ in range(5):
            log_one(log, telco_model, customer)  # predicting goes on
        status = wait_for(lambda: (s := log.status())["state"] == "degraded" and s, timeout=30)
        assert "PostgreSQL failed" in status["reason"] and status["pending_rows"] == 5
        with pytest.raises(StoreUnavailable):
            log.system("5m")
        postgres_server.start()
        wait_for(lambda: log.status()["state"] == "ok" and log.status()["pending_rows"] == 0, timeout=90)
        assert log.totals() == {"api": 6} and store.raw_count() == 6
    finally:
        if not _accepting(postgres_server):
            postgres_server.start()
        log.stop()


def _accepting(server) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", server.port)) == 0


@pytest.mark.parametrize(("cap", "raw_rows"), [(100, 96), (0, 0), (5_000, 1_050)])
def test_a_big_batch_keeps_a_sample_of_raw_rows_and_counts_every_row(tmp_path, telco_model, cap, raw_rows):
    """LOG_BATCH_RAW_ROWS: 1,050 rows with a cap of 100 keep every 11th row (96) as a raw
    row; the rollups, the drift counts and the Prometheus counters still count all 1,050."""
    log = PredictionLog(tmp_path / "monitoring.sqlite3", 30 * 86_400, 1_000_000, batch_raw_rows=cap)
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    frame = pd.DataFrame([{**customer, "tenure": float(t % 70)} for t in range(1_050)])
    batch = score_batch(frame, telco_model)
    labels = batch.table["label"].astype(str).to_numpy(dtype=object)
    probabilities = batch.table["probability"].to_numpy()
    log.log_columns(telco_model, "batch", batch.inputs, probabilities, labels, 0.004)
    log.flush()
    try:
        assert log.store.raw_count() == raw_rows and log.written_rows == raw_rows
        assert log.counted_rows == 1_050 - raw_rows and log.status()["batch_raw_rows"] == cap
        assert log.totals() == {"batch": 1_050}
        assert log.system("5m")["by_source"]["batch"]["requests"] == 1_050
        drift = log.drift(telco_model, "1h")
        assert drift["probability"]["recent_rows"] == 1_050
        assert sum(drift["features"]["tenure"]["recent_counts"]) == 1_050
        counters = log.counters.snapshot()
        assert sum(count for (source, _, _), count in counters.predictions.items() if source == "batch") == 1_050
        by_label = {label: count for (_, _, label), count in counters.predictions.items()}
        assert by_label == pd.Series(labels).value_counts().to_dict()
        assert counters.latency["batch"].sum() == 1_050
        kept = sqlite3.connect(log.path).execute("SELECT probability FROM predictions ORDER BY rowid").fetchall()
        step = -(-1_050 // cap) if cap and cap < 1_050 else 1
        assert [p for (p,) in kept] == pytest.approx(probabilities[::step].tolist() if raw_rows else [])
    finally:
        log.stop()
