"""Settings from the environment: defaults, derived paths, and clear errors."""

import pytest

from lib.settings import PROJECT_ROOT, SettingsError, get_settings, reload_settings


def test_defaults_and_the_store_path_follow_kpi_dir():
    settings = get_settings({})
    assert settings.monitoring_db == PROJECT_ROOT / "kpis" / "monitoring.sqlite3"
    assert (settings.monitoring_raw_max_days, settings.monitoring_raw_max_rows) == (30, 1_000_000)
    moved = get_settings({"KPI_DIR": "/srv/state"})
    assert str(moved.monitoring_db) == "/srv/state/monitoring.sqlite3"
    explicit = get_settings({"KPI_DIR": "/srv/state", "MONITORING_DB": "logs/m.db", "MONITORING_RAW_MAX_ROWS": "5000"})
    assert explicit.monitoring_db == PROJECT_ROOT / "logs" / "m.db" and explicit.monitoring_raw_max_rows == 5000


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MONITORING_RAW_MAX_DAYS", "0", "between 1 and 3650"),
        ("MONITORING_RAW_MAX_ROWS", "many", "whole number"),
        ("MAX_BATCH", "-1", "between 1 and"),
        ("LOG_LEVEL", "loud", "one of"),
        ("PROMOTION_TOLERANCE", "nan", "between 0.0 and 1.0"),
        ("PROMOTION_TOLERANCE", "lots", "a number"),
        ("PROMOTION_METRIC", "vibes", "one of roc_auc"),
        ("DECAY_METRIC", "log_loss", "one of roc_auc"),
        ("DECAY_WINDOW", "5m", "one of 7d, 30d, 90d"),
        ("DECAY_TOLERANCE", "-0.1", "between 0.0 and 1.0"),
        ("ALERT_WEBHOOK_URL", "file:///etc/passwd", "http:// or https:// URL with a host"),
        ("ALERT_WEBHOOK_URL", "https://", "http:// or https:// URL with a host"),
        ("ALERT_WEBHOOK_URL", "http://hooks.example/a\r\nX-Injected: 1", "http:// or https:// URL with a host"),
        ("ALERT_WEBHOOK_TIMEOUT_S", "0", "between 0.1 and 60.0"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(SettingsError, match=message) as error:
        get_settings({name: value})
    assert str(error.value).startswith(name)


def test_the_process_environment_is_read_once_and_again_only_on_reload(monkeypatch):
    before = get_settings()
    monkeypatch.setenv("MAX_BATCH", "7")
    assert get_settings() is before  # one frozen object per process, not a read per call
    assert reload_settings().max_batch == 7 and get_settings().max_batch == 7
    monkeypatch.delenv("MAX_BATCH")
    assert get_settings().max_batch == 7
    assert reload_settings().max_batch == 10_000
    monkeypatch.setenv("KPI_DIR", "/srv/état")  # not ASCII: decoded as os.environ does
    assert str(reload_settings().kpi_dir) == "/srv/état"


def test_the_environment_is_read_through_the_public_mapping_only():
    source = (PROJECT_ROOT / "lib" / "settings.py").read_text(encoding="utf-8")
    assert "_data" not in source and "getattr(os.environ" not in source


def test_replica_id_and_a_postgresql_url_are_checked():
    from lib.settings import SettingsError

    assert get_settings({"REPLICA_ID": "app-a"}).replica_id == "app-a"
    assert ":" in get_settings({}).replica_id  # hostname:pid by default
    for hostile in ("a b", "../etc", "x" * 65, "-leading", "name\nnewline"):
        with pytest.raises(SettingsError, match="REPLICA_ID"):
            get_settings({"REPLICA_ID": hostile})
    shared = get_settings({"MONITORING_DB": "postgresql://u:p@db:5432/log"})
    assert shared.monitoring_postgres == "postgresql://u:p@db:5432/log"
    for hostile in ("postgresql://u:p@db/log extra", "postgresql://" + "x" * 1000):
        with pytest.raises(SettingsError, match="MONITORING_DB"):
            get_settings({"MONITORING_DB": hostile})


def test_a_webhook_url_is_kept_but_never_shown_in_an_error():
    assert get_settings({"ALERT_WEBHOOK_URL": " https://hooks.example/t0k3n "}).alert_webhook_url == (
        "https://hooks.example/t0k3n"
    )
    with pytest.raises(SettingsError) as error:
        get_settings({"ALERT_WEBHOOK_URL": "ftp://hooks.example/s3cret"})
    assert "s3cret" not in str(error.value)
