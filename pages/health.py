"""Health: is the service up, which model does it serve, how fast and how reliably."""

from typing import Any

import pandas as pd
import streamlit as st

from lib.model_loader import LoadedModel, ModelNotAvailable, get_model
from lib.monitoring.log import prediction_log
from lib.monitoring.store import WINDOWS, StoreUnavailable
from lib.server.health import duration, health_report
from lib.ui import charts
from lib.ui.i18n import date_time, number, percent, t
from lib.ui.palette import SOURCE_NAMES

REFRESH_S = 5
st.title(t("Service health"))
STATES = {
    "ok": f":green[{t('ok')}]",
    "degraded": f":orange[{t('degraded')}]",
    "unavailable": f":red[{t('unavailable')}]",
}
window = st.segmented_control(t("Window"), list(WINDOWS), default="1h", key="health_window") or "1h"
st.caption(t("Refreshes itself every {seconds} s. Latency is the server's time per prediction.", seconds=REFRESH_S))


def when(ts: float | None) -> str:
    return t("never") if ts is None else date_time(ts)


def show_model_and_store(model: LoadedModel | None, problem: str | None, report: dict[str, Any]) -> None:
    """Which model is served and from where, admin-access counters, the store's state."""
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{t('Model')}**")
        if model is None:
            st.error(f"**{t('Model not loaded.')}** {problem}", icon=":material/error:")
        else:
            fallback = report["checks"]["model"]["fallback_reason"]
            scorer = model.scorer.kind + (
                t(", the scikit-learn pipeline because {why}", why=fallback) if fallback else ""
            )
            st.markdown(
                "\n".join(
                    (
                        t("- version `{version}` ({scorer} scorer)", version=model.version, scorer=scorer),
                        t("- source `{source}`", source=report["model_source"]),
                        t("- trained at {date}", date=date_time(report["trained_at"])),
                        t("- dataset sha256 `{hash}…`", hash=(report["dataset_sha256"] or t("unknown"))[:16]),
                    )
                )
            )
        st.markdown(t("- uptime {duration}", duration=duration(report["uptime_s"])))
        if "performance" in report["checks"]:
            show_performance(report["checks"]["performance"])
        admin = report["checks"]["admin"]
        st.markdown(f"**{t('Admin access')}**")
        st.markdown(
            t(
                "- wrong admin tokens {failures}, refused while throttled {throttled}\n- clients blocked now {blocked}",
                failures=number(admin["failures"]),
                throttled=number(admin["throttled"]),
                blocked=number(admin["clients_blocked"]),
            )
        )
    with right:
        store = report["checks"]["store"]
        st.markdown(f"**{t('Monitoring store')}**")
        try:
            size = f"{number(prediction_log().store.size_bytes() / 1e6, 1)} MB"
        except (StoreUnavailable, OSError):
            size = t("size unknown")
        where = t("file") if store["backend"] == "sqlite" else t("PostgreSQL database, shared by replicas:")
        replayed = store["replayed_rows"]
        st.markdown(
            t("- state {state}", state=STATES[store["state"]])
            + (f": {store['reason']}" if store["reason"] else "")
            + f"\n- {where} `{store['path']}`, {size}\n"
            + t(
                "- this replica `{replica}`: rows written {written}, waiting {pending}, dropped {dropped}",
                replica=store["replica"],
                written=number(store["written_rows"]),
                pending=number(store["pending_rows"]),
                dropped=number(store["dropped_rows"]),
            )
            + (t(", written from a stopped process's spool {count}", count=number(replayed)) if replayed else "")
            + "\n"
            + t("- last write {when}", when=when(store["last_write_at"]))
            + f"\n- {batch_rule(store['batch_raw_rows'], store['counted_rows'])}"
        )


def show_performance(check: dict[str, Any]) -> None:
    """The decay alert's last verdict (realised metric against the test split's)."""
    st.markdown(f"**{t('Realised performance')}**")
    state = {**STATES, "unknown": t("unknown")}[check["state"]]
    lines = [f"- {state}" + (f": {check['reason']}" if check["reason"] else "")]
    if check.get("live") is not None:
        lines.append(
            t(
                "- {metric} {live} over {window} against {test} on the test split (tolerance {tolerance}), "
                "checked {when}",
                metric=check["metric"],
                live=number(check["live"], 3),
                window=check["window"],
                test=number(check["test"], 3),
                tolerance=f"{check['tolerance']:g}",
                when=when(check["checked_at"]),
            )
        )
    webhook = check["webhook"]
    if webhook["configured"]:
        last = webhook["last"]
        outcome = (t("delivered") if last["delivered"] else t("failed: {why}", why=last["problem"])) if last else ""
        lines.append(
            t("- alert webhook: delivered {delivered}, failed {failed}", delivered=number(webhook["delivered"]),
              failed=number(webhook["failed"]))
            + (t("; last {event} {outcome}", event=last["event"], outcome=outcome) if last else "")
        )  # fmt: skip
    if check["problem"]:
        lines.append(t("- not checked: {why}", why=check["problem"]))
    st.markdown("\n".join(lines))


def batch_rule(cap: int | None, counted: int) -> str:
    """What the raw table keeps of a batch (LOG_BATCH_RAW_ROWS), in words."""
    if cap is None:
        return t("raw rows: every prediction")
    kept = t("no raw row") if cap == 0 else t("at most {cap} raw rows, evenly spaced", cap=number(cap))
    return t(
        "raw rows: every single prediction; of a bigger batch than {cap} rows, {kept} (`LOG_BATCH_RAW_ROWS`); every "
        "row counts in the metrics and drift. Counted without a raw row here: {counted}",
        cap=number(cap),
        kept=kept,
        counted=number(counted),
    )


def show_traffic(system: dict[str, Any]) -> None:
    """Requests, errors and latency over the window: cards, a table per source, charts."""
    latency = system["latency_ms"]
    cards = st.columns(5)
    cards[0].metric(t("Requests ({window})", window=window), number(system["requests"]))
    cards[1].metric(t("Error rate"), percent(system["error_rate"], 2))
    cards[2].metric(t("Throughput"), f"{system['throughput_rps']:.3g}/s")
    cards[3].metric(t("p50 latency"), t("n/a") if latency["p50"] is None else f"{latency['p50']:.3g} ms")
    cards[4].metric(t("p99 latency"), t("n/a") if latency["p99"] is None else f"{latency['p99']:.3g} ms")
    if system["by_source"]:
        by_source = [
            {
                t("source"): t(SOURCE_NAMES.get(source, source)),
                t("requests"): s["requests"],
                t("errors"): s["errors"],
                t("error rate"): s["error_rate"],
                **{f"{p} ms": s["latency_ms"][p] for p in ("p50", "p95", "p99")},
            }
            for source, s in system["by_source"].items()
        ]
        st.dataframe(pd.DataFrame(by_source), hide_index=True, key="by_source")
    if len(system["by_replica"]) > 1:  # a shared store: every replica's traffic
        by_replica = [
            {
                t("replica"): replica or t("(before replicas were recorded)"),
                t("requests"): r["requests"],
                t("errors"): r["errors"],
            }
            | {f"{p} ms": r["latency_ms"][p] for p in ("p50", "p99")}
            for replica, r in system["by_replica"].items()
        ]
        st.dataframe(pd.DataFrame(by_replica), hide_index=True, key="by_replica")
    charts_row = st.columns(3)
    series, step = system["series"], system["series_step_seconds"]
    charts_row[0].plotly_chart(charts.throughput_chart(series, step), key="throughput")
    charts_row[1].plotly_chart(charts.error_rate_chart(series), key="error_rate")
    charts_row[2].plotly_chart(charts.latency_chart(series), key="latency")


def show_errors(errors: list[dict[str, Any]]) -> None:
    st.subheader(t("Recent errors"))
    if errors:
        st.dataframe(
            pd.DataFrame([{**e, "ts": when(e["ts"])} for e in errors]).rename(columns={"ts": t("time")}),
            hide_index=True,
            key="errors",
        )
    else:
        st.caption(t("No failed prediction logged."))


@st.fragment(run_every=REFRESH_S)
def live_health() -> None:
    """Everything that changes: reruns alone on a timer, the window selector stays put."""
    try:
        model, problem = get_model(), None
    except ModelNotAvailable as exc:
        model, problem = None, exc.reason
    report = health_report(model, problem)
    st.subheader(t("Status: {state}", state=STATES[report["status"]]))
    if report.get("reason"):
        st.warning(report["reason"], icon=":material/warning:")
    show_model_and_store(model, problem, report)
    try:
        system = prediction_log().system(window)
        errors = prediction_log().recent_errors()
    except StoreUnavailable as exc:
        st.info(t("No charts while the monitoring store is unavailable: {reason}.", reason=exc))
        return
    show_traffic(system)
    show_errors(errors)


live_health()
