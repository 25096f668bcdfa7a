"""Health: is the service up, which model does it serve, how fast and how reliably."""

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from lib.model_loader import LoadedModel, ModelNotAvailable, get_model
from lib.monitoring.log import prediction_log
from lib.monitoring.store import WINDOWS, StoreUnavailable
from lib.server.health import duration, health_report
from lib.ui import charts

REFRESH_S = 5
STATES = {"ok": ":green[ok]", "degraded": ":orange[degraded]", "unavailable": ":red[unavailable]"}

st.title("Service health")
window = st.segmented_control("Window", list(WINDOWS), default="1h", key="health_window") or "1h"
st.caption(f"Refreshes itself every {REFRESH_S} s. Latency is the server's time per prediction.")


def when(ts: float | None) -> str:
    return "never" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def show_model_and_store(model: LoadedModel | None, problem: str | None, report: dict[str, Any]) -> None:
    """Which model is served and from where, admin-access counters, the store's state."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Model**")
        if model is None:
            st.error(f"**Model not loaded.** {problem}", icon=":material/error:")
        else:
            fallback = report["checks"]["model"]["fallback_reason"]
            scorer = model.scorer.kind + (f", the scikit-learn pipeline because {fallback}" if fallback else "")
            st.markdown(
                f"- version `{model.version}` ({scorer} scorer)\n"
                f"- source `{report['model_source']}`\n"
                f"- trained at {report['trained_at']}\n"
                f"- dataset sha256 `{(report['dataset_sha256'] or 'unknown')[:16]}…`"
            )
        st.markdown(f"- uptime {duration(report['uptime_s'])}")
        if "performance" in report["checks"]:
            show_performance(report["checks"]["performance"])
        admin = report["checks"]["admin"]
        st.markdown("**Admin access**")
        st.markdown(
            f"- wrong admin tokens {admin['failures']:,}, refused while throttled {admin['throttled']:,}"
            f"\n- clients blocked now {admin['clients_blocked']:,}"
        )
    with right:
        store = report["checks"]["store"]
        st.markdown("**Monitoring store**")
        try:
            size = f"{prediction_log().store.size_bytes() / 1e6:.1f} MB"
        except (StoreUnavailable, OSError):
            size = "size unknown"
        where = "file" if store["backend"] == "sqlite" else "PostgreSQL database, shared by replicas:"
        st.markdown(
            f"- state {STATES[store['state']]}"
            + (f": {store['reason']}" if store["reason"] else "")
            + f"\n- {where} `{store['path']}`, {size}"
            f"\n- this replica `{store['replica']}`: rows written {store['written_rows']:,}, waiting "
            f"{store['pending_rows']:,}, dropped {store['dropped_rows']:,}"
            + (f", written from a stopped process's spool {store['replayed_rows']:,}" if store["replayed_rows"] else "")
            + f"\n- last write {when(store['last_write_at'])}"
            + f"\n- {batch_rule(store['batch_raw_rows'], store['counted_rows'])}"
        )


def show_performance(check: dict[str, Any]) -> None:
    """The decay alert's last verdict (realised metric against the test split's)."""
    st.markdown("**Realised performance**")
    state = {"ok": ":green[ok]", "degraded": ":orange[degraded]", "unknown": "unknown"}[check["state"]]
    lines = [f"- {state}" + (f": {check['reason']}" if check["reason"] else "")]
    if check.get("live") is not None:
        lines.append(
            f"- {check['metric']} {check['live']:.3f} over {check['window']} against {check['test']:.3f} on the test "
            f"split (tolerance {check['tolerance']:g}), checked {when(check['checked_at'])}"
        )
    webhook = check["webhook"]
    if webhook["configured"]:
        last = webhook["last"]
        lines.append(
            f"- alert webhook: delivered {webhook['delivered']:,}, failed {webhook['failed']:,}"
            + (f"; last {last['event']} {'delivered' if last['delivered'] else 'failed: ' + str(last['problem'])}"
               if last else "")
        )  # fmt: skip
    if check["problem"]:
        lines.append(f"- not checked: {check['problem']}")
    st.markdown("\n".join(lines))


def batch_rule(cap: int | None, counted: int) -> str:
    """What the raw table keeps of a batch (LOG_BATCH_RAW_ROWS), in words."""
    if cap is None:
        return "raw rows: every prediction"
    kept = "no raw row" if cap == 0 else f"at most {cap:,} raw rows, evenly spaced"
    return (
        f"raw rows: every single prediction; of a bigger batch than {cap:,} rows, {kept} "
        f"(`LOG_BATCH_RAW_ROWS`); every row counts in the metrics and drift. "
        f"Counted without a raw row here: {counted:,}"
    )


def show_traffic(system: dict[str, Any]) -> None:
    """Requests, errors and latency over the window: cards, a table per source, charts."""
    latency = system["latency_ms"]
    cards = st.columns(5)
    cards[0].metric(f"Requests ({window})", f"{system['requests']:,}")
    cards[1].metric("Error rate", f"{system['error_rate']:.2%}")
    cards[2].metric("Throughput", f"{system['throughput_rps']:.3g}/s")
    cards[3].metric("p50 latency", "n/a" if latency["p50"] is None else f"{latency['p50']:.3g} ms")
    cards[4].metric("p99 latency", "n/a" if latency["p99"] is None else f"{latency['p99']:.3g} ms")
    if system["by_source"]:
        by_source = [
            {
                "source": source,
                "requests": s["requests"],
                "errors": s["errors"],
                "error rate": s["error_rate"],
                **{f"{p} ms": s["latency_ms"][p] for p in ("p50", "p95", "p99")},
            }
            for source, s in system["by_source"].items()
        ]
        st.dataframe(pd.DataFrame(by_source), hide_index=True, key="by_source")
    if len(system["by_replica"]) > 1:  # a shared store: every replica's traffic
        by_replica = [
            {"replica": replica or "(before replicas were recorded)", "requests": r["requests"], "errors": r["errors"]}
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
    st.subheader("Recent errors")
    if errors:
        st.dataframe(
            pd.DataFrame([{**e, "ts": when(e["ts"])} for e in errors]).rename(columns={"ts": "time"}),
            hide_index=True,
            key="errors",
        )
    else:
        st.caption("No failed prediction logged.")


@st.fragment(run_every=REFRESH_S)
def live_health() -> None:
    """Everything that changes: reruns alone on a timer, the window selector stays put."""
    try:
        model, problem = get_model(), None
    except ModelNotAvailable as exc:
        model, problem = None, exc.reason
    report = health_report(model, problem)
    st.subheader(f"Status: {STATES[report['status']]}")
    if report.get("reason"):
        st.warning(report["reason"], icon=":material/warning:")
    show_model_and_store(model, problem, report)
    try:
        system = prediction_log().system(window)
        errors = prediction_log().recent_errors()
    except StoreUnavailable as exc:
        st.info(f"No charts while the monitoring store is unavailable: {exc}.")
        return
    show_traffic(system)
    show_errors(errors)


live_health()
