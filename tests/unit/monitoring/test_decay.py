"""The decay alert (issue 18): realised performance worse than the test split's by more
than the tolerance is `degraded`, with the reason; each transition is claimed once in
the store, however many replicas check, and sent once to the webhook, retried on a
failure or a timeout."""

import time

import numpy as np

from lib.monitoring.decay import DecayWatcher, judge
from lib.monitoring.ids import id_text
from lib.monitoring.log import prediction_log
from lib.monitoring.outcomes import OutcomeChecker
from lib.monitoring.rollups import LoggedRow
from lib.settings import get_settings
from tests.helpers import WebhookReceiver, wait_for


def report(metric_value: float | None, test: float = 0.84, metric: str = "roc_auc", withheld: str | None = None):
    metrics = {} if metric_value is None else {metric: {"value": metric_value, "low": None, "high": None}}
    return {"test": {metric: test}, "coverage": {"labelled": 500}, "window": "30d", "version": "v1",
            "withheld": withheld, "metrics": metrics}  # fmt: skip


def test_the_verdict_compares_with_the_test_split_within_the_tolerance():
    assert judge(report(0.80), "roc_auc", 0.05, 0).state == "ok"
    degraded = judge(report(0.70), "roc_auc", 0.05, 0)
    assert degraded.state == "degraded"
    assert degraded.reason == (
        "realised roc_auc 0.700 over 30d (500 outcomes) is 0.140 below the test split's 0.840 (tolerance 0.05)"
    )
    brier = judge(report(0.25, test=0.14, metric="brier"), "brier", 0.05, 0)  # lower is better
    assert brier.state == "degraded" and "above the test split's 0.140" in brier.reason
    unknown = judge(report(None, withheld="12 labelled predictions; at least 100 are needed"), "roc_auc", 0.05, 0)
    assert unknown.state == "unknown" and unknown.reason.endswith("at least 100 are needed")


def test_a_transition_is_claimed_once(store):
    assert store.alert_transition("model_decay", "ok", "v1", None, 1.0) == ""  # the first state: nothing before
    assert store.alert_transition("model_decay", "ok", "v1", None, 2.0) is None  # no change
    assert store.alert_transition("model_decay", "degraded", "v1", "why", 3.0) == "ok"
    assert store.alert_transition("model_decay", "degraded", "v1", "why", 4.0) is None  # another replica, later
    assert store.alert_transition("model_decay", "ok", "v1", None, 5.0) == "degraded"


def labelled_predictions(model, rows: int, flipped: bool, first_id: int = 1) -> None:
    """`rows` predictions of the served version with outcomes: right, or all flipped."""
    rng = np.random.default_rng(first_id)
    p = rng.uniform(0, 1, rows)
    y = (p > 0.5).astype(int) ^ int(flipped)
    now = time.time()
    ids = range(first_id, first_id + rows)
    log = prediction_log()
    log.store.write([LoggedRow(now, "api", model.version, 1.0, "ok", None, float(p[i]), "x", "{}", pid)
                     for i, pid in enumerate(ids)], {})  # fmt: skip
    labels = {1: model.schema.positive_label, 0: model.schema.negative_label}
    items = [{"prediction_id": id_text(pid), "outcome": labels[int(y[i])]} for i, pid in enumerate(ids)]
    checked = OutcomeChecker(model.schema, now).check(items)
    log.store.record_outcomes(checked.rows, checked.refused, now)


def test_one_webhook_call_per_transition_retried_through_failures_and_timeouts(env, telco_model):
    receiver = WebhookReceiver(script=[500, "slow"], slow_s=1.5)
    env.set("ALERT_WEBHOOK_URL", receiver.url)
    env.set("ALERT_WEBHOOK_TIMEOUT_S", "0.5")
    try:
        watcher = DecayWatcher(get_settings())
        labelled_predictions(telco_model, 300, flipped=False)
        assert watcher.check(telco_model).state == "ok"  # the first state of a fresh store: no alert
        labelled_predictions(telco_model, 3000, flipped=True, first_id=1000)
        degraded = watcher.check(telco_model)
        assert degraded.state == "degraded" and "below the test split's" in degraded.reason
        wait_for(lambda: watcher.webhook.status()["delivered"] == 1, timeout=15)
        assert receiver.attempts == 3  # a 500, a timeout, then delivered
        assert watcher.webhook.status()["last"]["attempts"] == 3
        (call,) = receiver.calls
        assert (call["event"], call["previous_state"], call["state"]) == ("model_degraded", "ok", "degraded")
        assert call["version"] == telco_model.version and call["live"] < call["test"] - 0.05
        again = DecayWatcher(get_settings())  # a second replica on the same store
        assert again.check(telco_model).state == "degraded" and watcher.check(telco_model).state == "degraded"
        time.sleep(0.5)
        assert len(receiver.calls) == 1 and again.webhook.status()["delivered"] == 0
        status = watcher.status(telco_model.version)
        assert not status["ok"] and status["webhook"]["delivered"] == 1 and receiver.url not in str(status)
    finally:
        receiver.close()


def test_a_webhook_that_never_answers_is_given_up_after_its_retries(env, telco_model):
    env.set("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")  # the discard port: refused
    env.set("ALERT_WEBHOOK_RETRIES", "1")
    watcher = DecayWatcher(get_settings())
    labelled_predictions(telco_model, 3000, flipped=True)
    assert watcher.check(telco_model).state == "degraded"
    wait_for(lambda: watcher.webhook.status()["failed"] == 1, timeout=10)
    last = watcher.webhook.status()["last"]
    assert (last["delivered"], last["attempts"], last["event"]) == (False, 2, "model_degraded")
