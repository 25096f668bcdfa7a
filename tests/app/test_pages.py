"""Every page under AppTest: renders, reacts to its widgets, and copes without a model
or with a model from another dataset."""

import json
import time

import pytest

from lib.model.bundle import MODEL_FILE
from lib.model.inference import score_record
from lib.model_loader import get_model, load_model
from lib.monitoring.ids import first_id_at
from lib.monitoring.log import prediction_log
from lib.serving.scoring import score_and_log
from lib.settings import PROJECT_ROOT
from lib.ui.palette import OPPORTUNITY_COLOURS, RISK_COLOURS
from tests.app.conftest import PAGES

# Prediction ids carry the moment they were made, and the store prunes what is older than
# 90 days: rows written by a test take ids of now, or a prune in between drops them.
NOW_ID = first_id_at(time.time())


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table_with(at, column: str):
    """The first dataframe shown that has `column` (non-interactive tables carry no key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def charts(at) -> list:
    return at.get("plotly_chart")


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_with_the_served_model(open_page, registry_copy, page):
    at = open_page(registry_copy, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title


@pytest.mark.parametrize("page", [page for page in PAGES if page != "retrain"])  # retraining is the cure
def test_every_page_says_the_model_is_missing_instead_of_crashing(open_page, registry_copy, telco_model, page):
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"")
    at = open_page(registry_copy, page)
    assert not at.exception
    assert "Model not loaded" in at.error[0].value
    assert "checksum" in at.error[0].value


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_works_with_a_model_from_another_dataset(open_page, synthetic_registry, synthetic_config, page):
    at = open_page(synthetic_registry, page, data_config=synthetic_config)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    text = " ".join(str(e.value) for e in [*at.title, *at.markdown, *at.caption, *at.info, *at.metric])
    text += " ".join(str(getattr(e, "label", "")) for e in at.metric)
    for telco_word in ("Churn", "churn", "MonthlyCharges", "Contract", "tenure"):
        assert telco_word not in text


def test_overview_cards_show_the_bundle_and_the_business(open_page, registry_copy, telco_model):
    at = open_page(registry_copy)
    cards = metrics(at)
    assert cards["Test ROC AUC"] == f"{telco_model.kpis.metrics['roc_auc']:.3f}"
    assert cards["Threshold"] == f"{telco_model.threshold:.2f}"
    assert cards["Base rate"] == f"{telco_model.kpis.base_rate:.1%}"
    assert cards["Revenue at risk"].startswith("$")
    assert telco_model.version in at.caption[0].value
    card = " ".join(m.value for m in at.markdown)
    assert f"`{telco_model.version}`" in card  # the version in full, not cut
    assert telco_model.metadata.dataset.sha256 in " ".join(c.value for c in at.caption)
    assert cards["Predictions, last 7 days"] == "0"
    assert "No open alerts" in at.success[0].value and cards["Open alerts"] == "0"
    log_predictions(get_model(), 2)
    at.run()
    assert metrics(at)["Predictions, last 7 days"] == "2"
    charts_shown = {
        m.value.split('data-chart="')[1].split('"')[0]: m.value for m in at.markdown if "data-chart" in m.value
    }
    activity, probabilities = charts_shown["activity"], charts_shown["probabilities"]
    assert activity.count('class="bar"') == 1 and ": API 2</title>" in activity  # one hour, two API predictions
    assert ">test split<" in probabilities and ">last 7 days<" in probabilities
    assert "currentColor" in activity and "background" not in activity  # the theme shows through


def test_overview_lists_drift_alerts_and_the_worst_features(open_page, registry_copy):
    at = open_page(registry_copy)
    model = get_model()
    log_predictions(model, 150, Contract="Two year", tenure=70)
    at.run()
    table = next(m.value for m in at.markdown if m.value.startswith("| feature |"))
    rows = [line.strip("| ").split(" | ") for line in table.splitlines()[2:]]
    psi = [float(row[2].replace("\\", "").replace(",", "")) for row in rows]
    assert rows[0][1] == "alert" and psi == sorted(psi, reverse=True) and len(rows) == 6
    alert = next(w.value for w in at.warning if "Drift alert on" in w.value)
    assert f"** {rows[0][0]}" in alert  # the worst feature named first
    assert any("predicted probabilities drifted" in w.value for w in at.warning)
    assert metrics(at)["Open alerts"] == "2"


def test_predict_shows_the_probability_the_scoring_function_gives(open_page, registry_copy, telco_model):
    at = open_page(registry_copy, "predict")
    at.number_input(key="field_tenure").set_value(3)
    at.selectbox(key="field_Contract").set_value("Month-to-month")
    at.selectbox(key="field_InternetService").set_value("Fiber optic")
    at.button[0].click().run()
    assert not at.exception and not at.error
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    record.update(tenure=3, Contract="Month-to-month", InternetService="Fiber optic")
    expected = score_record(record, telco_model)
    assert metrics(at)["Probability"] == f"{expected.probability:.1%}"
    words = telco_model.outcome  # the config's words for the data's labels ("Yes" is "Churned")
    assert metrics(at)["Prediction"] == (words.positive if expected.label == "Yes" else words.negative)
    assert len(charts(at)) == 3  # gauge, reasons, what-if
    prediction_log().flush()
    assert prediction_log().totals() == {"ui": 1}  # the submit was logged, once


def test_what_if_panel_follows_the_chosen_feature(open_page, registry_copy):
    at = open_page(registry_copy, "predict")
    at.button[0].click().run()
    at.selectbox(key="what_if_feature").set_value("Contract").run()
    assert not at.exception
    what_if = charts(at)[-1]
    assert "Contract" in what_if.proto.spec


def test_out_of_range_form_value_is_scored_with_a_warning(open_page, registry_copy):
    at = open_page(registry_copy, "predict")
    at.number_input(key="field_tenure").set_value(150)
    at.button[0].click().run()
    assert any("outside the training range" in w.value for w in at.warning)


def test_batch_scores_good_rows_and_lists_bad_ones(open_page, registry_copy, telco_model):
    lines = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_text().splitlines()[:6]
    header = lines[0].split(",")
    bad_tenure = lines[2].split(",")
    bad_tenure[header.index("tenure")] = "ten"
    bad_contract = lines[4].split(",")
    bad_contract[header.index("Contract")] = ""
    body = "\n".join([lines[0], lines[1], ",".join(bad_tenure), lines[3], ",".join(bad_contract), lines[5]]) + "\n"
    at = open_page(registry_copy, "batch")
    at.file_uploader(key="batch_file").set_value(("mixed.csv", body.encode(), "text/csv")).run()
    assert not at.exception and not at.error
    cards = metrics(at)
    assert (cards["Rows read"], cards["Scored"], cards["Refused"]) == ("5", "3", "2")
    refused = table_with(at, "problem")
    assert list(refused["row"]) == [2, 4]
    assert list(refused["field"]) == ["tenure", "Contract"]
    scored = table_with(at, "quality_score")
    assert list(scored["probability"]) == sorted(scored["probability"], reverse=True)
    assert len(scored) == 3


def test_batch_refuses_a_file_without_the_columns(open_page, registry_copy):
    at = open_page(registry_copy, "batch")
    at.file_uploader(key="batch_file").set_value(("wrong.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert not at.exception
    assert "missing columns" in at.error[0].value


def test_batch_filters_narrow_the_table(open_page, registry_copy, telco_model):
    at = open_page(registry_copy, "batch")
    at.button(key="batch_sample").click().run()
    full = len(table_with(at, "quality_score"))
    assert full == 1000
    at.slider(key="filter_minimum").set_value(0.5).run()
    shown = table_with(at, "quality_score")
    assert 0 < len(shown) < full and (shown["probability"] >= 0.5).all()


def test_threshold_slider_changes_the_metrics(open_page, registry_copy, telco_model):
    at = open_page(registry_copy, "performance")
    chosen = metrics(at)
    at.slider(key="threshold").set_value(0.6).run()
    moved = metrics(at)
    table = telco_model.kpis.threshold_table
    at_06 = table["threshold"].index(0.6)
    assert moved["Precision"] == f"{table['precision'][at_06]:.3f}" != chosen["Precision"]
    assert moved["Recall"] == f"{table['recall'][at_06]:.3f}" != chosen["Recall"]


def test_business_segments_follow_the_picked_feature(open_page, registry_copy):
    at = open_page(registry_copy, "business")
    assert at.selectbox(key="segment_feature").value == "Contract"
    segments = table_with(at, "segment")
    assert set(segments["segment"]) == {"Month-to-month", "One year", "Two year"}
    assert segments["customers"].sum() == 7043
    at.selectbox(key="segment_feature").set_value("PaymentMethod").run()
    assert len(table_with(at, "segment")) == 4


def test_campaign_simulator_moves_with_the_costs(open_page, registry_copy):
    at = open_page(registry_copy, "business")
    cheap = metrics(at)["Best number to contact"]
    at.number_input(key="offer_cost").set_value(400.0).run()
    dear = metrics(at)["Best number to contact"]
    assert int(dear.replace(",", "")) < int(cheap.replace(",", ""))


def test_business_page_says_what_a_config_without_business_cannot_show(open_page, synthetic_registry, synthetic_config):
    at = open_page(synthetic_registry, "business", data_config=synthetic_config)
    assert any("[business]" in i.value for i in at.info)
    assert not any(s.value == "Campaign simulator" for s in at.subheader)


def test_distributions_reach_every_feature(open_page, registry_copy, telco_model):
    at = open_page(registry_copy, "distributions")
    box = at.selectbox(key="distribution_feature")
    assert box.options == telco_model.schema.names
    box.set_value("Contract").run()
    statistics = table_with(at, "statistic")
    assert "share of Month-to-month" in set(statistics["statistic"])


def log_predictions(model, count: int, **changes) -> None:
    customer = {spec.name: spec.default for spec in model.schema.features}
    for _ in range(count):
        score_and_log({**customer, **changes}, model, "api")
    prediction_log().flush()


def test_distributions_show_drift_per_feature_from_the_log(open_page, registry_copy):
    at = open_page(registry_copy, "distributions")
    model = get_model()
    log_predictions(model, 75, Contract="Two year", tenure=70, gender="Male")
    log_predictions(model, 75, Contract="Two year", tenure=70, gender="Female")
    at.run()
    assert not at.exception
    drift = table_with(at, "PSI").set_index("feature")
    assert drift.loc["Contract", "status"] == "ALERT" and drift.loc["Contract", "recent inputs"] == 150
    assert drift.loc["gender", "status"] == "ok"  # half and half, as in training
    assert metrics(at)["Recent inputs"] == "150"
    at.selectbox(key="distribution_feature").set_value("Contract").run()
    assert any("150 recent inputs" in c.value for c in at.caption)


def test_health_page_shows_the_model_the_store_and_the_traffic(open_page, registry_copy, telco_model):
    at = open_page(registry_copy, "health")
    log_predictions(get_model(), 7)
    prediction_log().log_failure("api", telco_model.version, 2.0, "malformed_json")
    prediction_log().flush()
    at.run()
    assert not at.exception and not at.error
    assert "ok" in at.subheader[0].value
    text = " ".join(m.value for m in at.markdown)
    assert telco_model.version in text and telco_model.metadata.dataset.sha256[:16] in text
    assert "of a bigger batch than 1,000 rows, at most 1,000 raw rows" in text  # LOG_BATCH_RAW_ROWS's rule
    cards = metrics(at)
    assert cards["Requests (1h)"] == "8" and cards["Error rate"] == "12.50%"
    assert len(charts(at)) == 3
    assert table_with(at, "error_kind")["error_kind"].tolist() == ["malformed_json"]
    at.segmented_control(key="health_window").set_value("7d").run()
    assert metrics(at)["Requests (7d)"] == "8"


def test_health_page_says_why_the_store_is_degraded(open_page, registry_copy, monitoring_db):
    monitoring_db.mkdir(parents=True)  # a folder where the store file should be
    at = open_page(registry_copy, "health")
    assert not at.exception
    assert "degraded" in at.subheader[0].value
    assert "monitoring store" in at.warning[0].value
    assert any("No charts while the monitoring store is unavailable" in i.value for i in at.info)


def test_a_tree_model_is_served_compiled_and_its_pages_say_so(open_page, tree_registry, synthetic_config):
    performance = open_page(tree_registry, "performance", data_config=synthetic_config)
    assert not performance.exception
    families = table_with(performance, "served by")
    assert families.to_dict("records")[0]["served by"] == "compiled (trees)"
    health = open_page(tree_registry, "health", data_config=synthetic_config)
    assert "compiled_trees scorer" in " ".join(m.value for m in health.markdown)
    predict = open_page(tree_registry, "predict", data_config=synthetic_config)
    predict.number_input(key="field_age").set_value(79)
    predict.button[0].click().run()
    assert charts(predict)  # the gauge and the reasons
    assert not predict.exception and "typical value" in " ".join(c.value for c in predict.caption)


def test_a_config_without_business_shows_no_empty_money(open_page, synthetic_registry, synthetic_config, telco_model):
    overview = open_page(synthetic_registry, "overview", data_config=synthetic_config)
    cards = metrics(overview)
    assert "Revenue at risk" not in cards and cards["Flagged at the threshold"].endswith("%")
    batch = open_page(synthetic_registry, "batch", data_config=synthetic_config)
    batch.button(key="batch_sample").click().run()
    assert metrics(batch)["Scored"] != "0"  # the sample was scored
    assert not any("Revenue at risk" in c.value or "[business]" in c.value for c in batch.caption)


def test_the_retrain_page_names_the_registry_it_uses(open_page, registry_copy, env):
    env.set("ADMIN_TOKEN", "t")
    at = open_page(registry_copy, "retrain")
    text = " ".join(c.value for c in at.caption)
    assert "Registry `MODEL_URI`" in text and "models folder" not in text  # the setting, not a server path


@pytest.mark.parametrize(
    ("polarity", "ranked", "top", "positive_colour"),
    [
        ("risk", "riskiest first", "Top-risk customers", RISK_COLOURS[0]),
        ("opportunity", "most promising first", "Top prospects", OPPORTUNITY_COLOURS[0]),
    ],
)
def test_words_and_colours_follow_the_outcome_polarity(
    open_page, request, registry_copy, opportunity_registry, opportunity_config, polarity, ranked, top, positive_colour
):
    registry, config = (registry_copy, None) if polarity == "risk" else (opportunity_registry, opportunity_config)
    batch = open_page(registry, "batch", data_config=config)
    batch.button(key="batch_sample").click().run()
    assert [s.value for s in batch.subheader if s.value.startswith("Scored rows")] == [f"Scored rows, {ranked}"]
    business = open_page(registry, "business", data_config=config)
    assert top in [s.value for s in business.subheader]
    performance = open_page(registry, "performance", data_config=config)
    gain = next(json.loads(c.proto.spec) for c in charts(performance) if "Cumulative gain" in c.proto.spec)
    assert gain["layout"]["xaxis"]["title"]["text"] == f"share of customers contacted ({ranked})"
    other_top = "Top prospects" if polarity == "risk" else "Top-risk customers"
    assert other_top not in [s.value for s in business.subheader]
    predict = open_page(registry, "predict", data_config=config)
    numeric = next(spec for spec in get_model().schema.features if spec.is_numeric)
    predict.number_input(key=f"field_{numeric.name}").set_value(numeric.training_range[1])
    predict.button[0].click().run()
    figures = [json.loads(chart.proto.spec) for chart in charts(predict)]
    bars = [f["data"][0]["marker"]["color"] for f in figures if f["data"][0].get("type") == "bar"]
    gauge = next(f["data"][0]["gauge"]["bar"]["color"] for f in figures if f["data"][0].get("type") == "indicator")
    used = {gauge, *(c for colours in bars for c in (colours if isinstance(colours, list) else [colours]))}
    palette = set(RISK_COLOURS if polarity == "risk" else OPPORTUNITY_COLOURS)
    assert used <= palette and positive_colour in used | palette
    assert not used & {"#D62728", "#2CA02C"}  # never the old red against green


def test_feature_words_from_the_config_label_the_form_and_the_reasons(
    open_page, opportunity_registry, opportunity_config
):
    predict = open_page(opportunity_registry, "predict", data_config=opportunity_config)
    age = predict.number_input(key="field_age")
    assert age.label == "Age (years)" and age.help.startswith("Age of the account holder. Training range")
    assert predict.selectbox(key="field_plan").label == "Plan"
    assert predict.selectbox(key="field_region").label == "region"  # no words configured: the column name
    age.set_value(79)
    predict.button[0].click().run()
    reasons = next(json.loads(c.proto.spec) for c in charts(predict) if "Top reasons" in c.proto.spec)
    assert any(label.startswith("Age (years) = ") for label in reasons["data"][0]["y"])


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_works_on_a_conversion_campaign_generated_by_the_tests(
    open_page, campaign_registry, campaign_config, page
):
    at = open_page(campaign_registry, page, data_config=campaign_config)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_a_sentinel_is_offered_as_its_own_case_in_the_form_and_the_what_if(
    open_page, campaign_registry, campaign_config
):
    at = open_page(campaign_registry, "predict", data_config=campaign_config)
    case = at.selectbox(key="case_pdays")
    assert case.options == ["a number", "never contacted"] and case.value == "never contacted"
    at.number_input(key="field_age").set_value(70)
    at.button[0].click().run()
    model = get_model()
    record = {spec.name: spec.default for spec in model.schema.features}
    shown = metrics(at)["Probability"]
    assert shown == f"{score_record({**record, 'age': 70, 'pdays': -1.0}, model).probability:.1%}"
    at.selectbox(key="what_if_feature").set_value("pdays").run()
    what_if = next(json.loads(c.proto.spec) for c in charts(at) if "Probability as" in c.proto.spec)
    special = next(trace for trace in what_if["data"] if trace.get("name") == "special cases")
    assert special["text"] == ["never contacted"] and special["x"] == [-1.0]
    at.selectbox(key="case_pdays").set_value("a number")
    at.number_input(key="field_pdays").set_value(5)
    at.button[0].click().run()
    assert metrics(at)["Probability"] == f"{score_record({**record, 'age': 70, 'pdays': 5.0}, model).probability:.1%}"


def test_a_conversion_campaign_is_told_and_simulated_as_one(open_page, campaign_registry, campaign_config):
    model = load_model(str(campaign_registry))
    assert model.metadata.threshold_criterion == "max_expected_profit"  # chosen by the conversion profit
    at = open_page(campaign_registry, "business", data_config=campaign_config)
    assert not at.exception, at.exception
    assert at.slider(key="success_rate").label == "Uplift"
    assert "horizon" not in [widget.key for widget in at.number_input]
    assert any("who would buy brings their value once" in c.value for c in at.caption)
    assert not any("who would have left" in c.value for c in at.caption)
    best = metrics(at)["Expected profit"]
    at.number_input(key="contact_cost").set_value(400.0).run()
    assert metrics(at)["Expected profit"] != best and "€" in best
    overview = open_page(campaign_registry, "overview", data_config=campaign_config)
    assert "Value to win" in metrics(overview)


SHIPPED = {
    "telco": (PROJECT_ROOT / "models", PROJECT_ROOT / "data" / "telco.toml", "riskiest first", "Revenue at risk"),
    "campaign": (
        PROJECT_ROOT / "models" / "campaign",
        PROJECT_ROOT / "data" / "campaign.toml",
        "most promising first",
        "Value to win",
    ),
}


@pytest.mark.parametrize("example", list(SHIPPED))
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_of_both_shipped_examples_renders_in_its_own_words(open_page, example, page):
    registry, config, ranked, value = SHIPPED[example]
    at = open_page(registry, page, data_config=config)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page == "overview":
        assert value in metrics(at)
    if page == "batch":
        at.button(key="batch_sample").click().run()
        assert f"Scored rows, {ranked}" in [s.value for s in at.subheader]


def test_tables_and_pickers_use_the_configs_words_for_columns(open_page, campaign_registry, campaign_config):
    at = open_page(campaign_registry, "business", data_config=campaign_config)
    assert "Days since last contact" in at.selectbox(key="segment_feature").options
    top = next(frame for frame in at.dataframe if "probability" in frame.value.columns)
    configured = json.loads(top.proto.columns)  # the headers shown; the data keeps its column names
    assert configured["pdays"]["label"] == "Days since last contact" and "pdays" in top.value.columns
    assert configured["label"]["label"] == "predicted subscription"
    distributions = open_page(campaign_registry, "distributions", data_config=campaign_config)
    assert "Days since last contact" in distributions.selectbox(key="distribution_feature").options


def test_a_configured_number_format_shapes_the_form(open_page):
    registry, config = SHIPPED["campaign"][:2]
    at = open_page(registry, "predict", data_config=config)
    assert at.number_input(key="field_margin").proto.format == "%.1f"  # configured (a float shows "%.2f" by default)
    assert at.number_input(key="field_balance").proto.format == "%d"
    assert at.number_input(key="field_age").proto.format == "%d"  # none configured: the default for a whole number
    assert at.number_input(key="field_campaign").proto.format == "%d"


def test_health_page_on_a_shared_store_shows_every_replica(open_page, env, registry_copy, telco_model, postgres_url):
    """Rows another replica wrote to the shared PostgreSQL store count here too."""
    from lib.monitoring.postgres import PostgresStore
    from lib.monitoring.rollups import LoggedRow

    env.set("MONITORING_DB", postgres_url)
    env.set("REPLICA_ID", "replica-a")
    other = PostgresStore(postgres_url, "replica-b")
    now = time.time()
    other.write([LoggedRow(now, "api", telco_model.version, 1.0, "ok", None, 0.4, "No", None)] * 5, {})
    other.close()
    at = open_page(registry_copy, "health")
    log_predictions(get_model(), 3)
    prediction_log().flush()
    at.run()
    assert not at.exception and not at.error
    assert metrics(at)["Requests (1h)"] == "8"
    replicas = table_with(at, "replica")
    assert dict(zip(replicas["replica"], replicas["requests"], strict=True)) == {"replica-a": 3, "replica-b": 5}
    text = " ".join(m.value for m in at.markdown)
    assert "PostgreSQL database, shared by replicas" in text and "replica-a" in text


def test_the_form_shows_its_prediction_id_and_logs_the_id_column_given(open_page, registry_copy):
    from lib.monitoring.ids import parse_id
    from lib.monitoring.log import prediction_log

    at = open_page(registry_copy, "predict")
    at.text_input(key="id_customerID").set_value("F-77")
    at.button[0].click().run()
    caption = next(c.value for c in at.caption if c.value.startswith("Prediction id"))
    prediction_id = parse_id(caption.split("`")[1])
    log = prediction_log()
    log.flush()
    assert log.store._read("SELECT entity FROM scores WHERE prediction_id = ?", (prediction_id,)) == [("F-77",)]


def test_the_live_view_shows_realised_figures_on_another_dataset(open_page, synthetic_registry, synthetic_config):
    """Outcomes recorded for a model of another dataset (its own labels, its own id column):
    the live view withholds figures until enough come back, then shows scikit-learn's."""
    import numpy as np
    from sklearn.metrics import precision_score, roc_auc_score

    from lib.monitoring.ids import id_text
    from lib.monitoring.rollups import LoggedRow

    at = open_page(synthetic_registry, "performance", data_config=synthetic_config)
    model = get_model()
    at.radio(key="performance_view").set_value("live").run()
    assert not at.exception and "No realised figures yet" in at.info[0].value
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 400)
    y = (rng.random(400) < p).astype(int)
    now = time.time()
    rows = [
        LoggedRow(now, "api", model.version, 1.0, "ok", None, float(p[i]), "x", "{}", NOW_ID + i) for i in range(400)
    ]
    prediction_log().store.write(rows, {})
    labels = {1: model.schema.positive_label, 0: model.schema.negative_label}
    items = [{"prediction_id": id_text(NOW_ID + i), "outcome": labels[int(y[i])]} for i in range(300)]
    assert prediction_log().record_outcomes(model, items).new == 300
    at.run()
    shown = metrics(at)
    assert shown["ROC AUC"] == f"{roc_auc_score(y[:300], p[:300]):.3f}"
    assert shown["Precision"] == f"{precision_score(y[:300], p[:300] >= model.threshold):.3f}"
    assert "300 (75.0%) have a recorded outcome" in " ".join(c.value for c in at.caption)
    assert {"Realised ROC AUC per day of prediction", "Calibration (live, tenths)"} <= {
        json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts(at)
    }


def test_overview_and_health_say_when_the_realised_performance_decayed(open_page, registry_copy):
    import numpy as np

    from lib.monitoring.decay import decay_watcher
    from lib.monitoring.ids import id_text
    from lib.monitoring.rollups import LoggedRow

    at = open_page(registry_copy)
    assert not at.error  # nothing judged yet
    model = get_model()
    p = np.random.default_rng(4).uniform(0, 1, 500)
    flipped = np.where(p > 0.5, model.schema.negative_label, model.schema.positive_label)  # every outcome wrong
    prediction_log().store.write(
        [
            LoggedRow(time.time(), "api", model.version, 1.0, "ok", None, float(p[i]), "x", "{}", NOW_ID + i)
            for i in range(500)
        ],
        {},
    )
    items = [{"prediction_id": id_text(NOW_ID + i), "outcome": str(flipped[i])} for i in range(500)]
    prediction_log().record_outcomes(model, items)
    assert decay_watcher().check(model).state == "degraded"
    at.run()
    assert "Model performance degraded" in at.error[0].value and "below the test split's" in at.error[0].value
    health = open_page(registry_copy, "health")
    assert "degraded" in health.subheader[0].value
    assert "model performance: realised roc_auc" in health.warning[0].value
    assert "Realised performance" in " ".join(m.value for m in health.markdown)
