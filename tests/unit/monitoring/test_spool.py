"""The spool: a process killed between answering and writing loses no logged input; the
next process on the folder writes them once; written segments go away."""

import json
import os
import signal
import subprocess
import sys
import textwrap

from lib.model.inference import score_record
from lib.monitoring.log import PredictionLog
from lib.monitoring.spool import rows_of
from lib.monitoring.store import MonitoringStore
from lib.settings import PROJECT_ROOT
from tests.helpers import COMMITTED_REGISTRY

KILLED_AFTER_ANSWERING = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from lib.model.inference import score_record
    from lib.model_loader import load_model
    from lib.monitoring.log import PredictionLog
    import lib.monitoring.log
    lib.monitoring.log.FLUSH_INTERVAL_S = 3600  # the writer never gets to it
    model = load_model(sys.argv[1])
    log = PredictionLog(Path(sys.argv[2]), 30 * 86400, 1_000_000, spool_dir=Path(sys.argv[3]))
    record = {spec.name: spec.default for spec in model.schema.features}
    for i in range(50):
        log.log_records(model, "api", [record], [score_record(record, model)], 0.05, [1000 + i], [f"c{i}"])
    log.log_failure("api", model.version, 0.1, "invalid_input")
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def killed_after(script: str, store_path, spool) -> None:
    """Run `script` in its own process on this store and spool; it must end SIGKILLed."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(COMMITTED_REGISTRY), str(store_path), str(spool)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def test_inputs_answered_by_a_killed_process_are_written_by_the_next_one(tmp_path):
    store_path, spool = tmp_path / "monitoring.sqlite3", tmp_path / "spool"
    killed_after(KILLED_AFTER_ANSWERING, store_path, spool)
    assert MonitoringStore(store_path).readable() is False or MonitoringStore(store_path).raw_count() == 0
    next_process = PredictionLog(store_path, 30 * 86_400, 1_000_000, spool_dir=spool)
    next_process.flush()
    assert next_process.totals() == {"api": 50}
    assert next_process.store.raw_count() == 51 and next_process.replayed_rows == 51
    assert next_process.system("5m")["errors"] == 1
    scores = next_process.store._read("SELECT prediction_id, entity FROM scores ORDER BY prediction_id")
    assert scores == [(1000 + i, f"c{i}") for i in range(50)]  # each with its id and entity, for its outcome
    next_process.flush()  # once only
    assert next_process.store.raw_count() == 51
    next_process.stop()
    assert sorted(os.listdir(spool)) == []  # a clean stop leaves nothing


def test_written_inputs_leave_no_segment_and_a_stop_with_the_store_down_keeps_them(tmp_path, telco_model):
    store_path, spool = tmp_path / "monitoring.sqlite3", tmp_path / "spool"
    log = PredictionLog(store_path, 30 * 86_400, 1_000_000, spool_dir=spool)
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    log.log_records(telco_model, "api", [record], [score_record(record, telco_model)], 0.05)
    log.flush()
    (current,) = spool.glob("*.spool")  # only the current segment, holding nothing
    assert rows_of(current.read_bytes()) == [] and current.stat().st_blocks * 512 < 64 * 1024  # sparse
    store_path.unlink()
    store_path.mkdir()  # the store cannot be opened any more
    for _ in range(3):
        log.log_records(telco_model, "api", [record], [score_record(record, telco_model)], 0.05)
    log.stop()  # cannot write: the rows stay spooled
    os.rmdir(store_path)
    later = PredictionLog(store_path, 30 * 86_400, 1_000_000, spool_dir=spool)
    later.flush()
    assert later.totals() == {"api": 3}  # the first one was written before; these three now
    later.stop()


def test_a_replayed_record_keeps_its_features_whatever_was_spooled_before_it(tmp_path, telco_model):
    from lib.monitoring.spool import Spool, failure_frame, record_frames, values_getter

    spool = Spool(tmp_path)
    names = telco_model.schema.names
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    spool.append(failure_frame(1.0, "api", telco_model.version, 0.1, "invalid_input", 2), 2)  # no names yet
    frames = record_frames(
        2.0, "api", telco_model.version, 0.2, [record], [score_record(record, telco_model)], values_getter(names)
    )
    spool.append(frames, 1, telco_model.version, names)
    (segment,) = tmp_path.glob("*.spool")
    rows = rows_of(segment.read_bytes())
    assert [r.outcome for r in rows] == ["error", "error", "ok"]
    assert json.loads(rows[2].features) == record
    spool.close(keep=False)


KILLED_AFTER_A_BATCH = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    import numpy as np
    from lib.api.batch_body import decode_batch
    from lib.model.inference import score_json_columns
    from lib.model_loader import load_model
    from lib.monitoring.log import PredictionLog
    import lib.monitoring.log
    lib.monitoring.log.FLUSH_INTERVAL_S = 3600  # the writer never gets to it
    model = load_model(sys.argv[1])
    log = PredictionLog(Path(sys.argv[2]), 30 * 86400, 1_000_000, spool_dir=Path(sys.argv[3]))
    record = {spec.name: spec.default for spec in model.schema.features}
    text = next(spec.name for spec in model.schema.features if not spec.is_numeric)
    records = [record] * 2999 + [{**record, text: "a category never seen"}]
    batch = decode_batch(json.dumps({"records": records}).encode(), model.schema, 10_000)
    scored = score_json_columns(batch, model)
    texts = {s.name: batch.columns[s.name] for s in model.schema.features if not s.is_numeric}
    labels = scored.table["label"].to_numpy(dtype=object)
    probabilities = scored.table["probability"].to_numpy()
    ids = np.arange(1, 3001, dtype=np.int64) * 7
    entities = [f"e{i}" if i % 2 else None for i in range(3000)]
    log.log_columns(model, "api", scored.inputs, probabilities, labels, 0.01, texts=texts, ids=ids, entities=entities)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_batch_answered_by_a_killed_process_is_written_by_the_next_one_as_sent(tmp_path):
    store_path, spool = tmp_path / "monitoring.sqlite3", tmp_path / "spool"
    killed_after(KILLED_AFTER_A_BATCH, store_path, spool)
    next_process = PredictionLog(store_path, 30 * 86_400, 1_000_000, spool_dir=spool)
    next_process.flush()
    assert next_process.totals() == {"api": 3000} and next_process.replayed_rows == 3000
    features = [json.loads(row[0]) for row in next_process.store._read("SELECT features FROM predictions")]
    assert sum(1 for f in features if "a category never seen" in f.values()) == 1
    scores = next_process.store._read("SELECT prediction_id, entity FROM scores ORDER BY prediction_id")
    assert scores == [(7 * (i + 1), f"e{i}" if i % 2 else None) for i in range(3000)]
    next_process.stop()
