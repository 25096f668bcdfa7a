"""No server path in what the product tells a caller (lib.redact)."""

from lib.redact import redact_paths
from lib.settings import PROJECT_ROOT


def test_folders_named_by_settings_become_the_setting(env, tmp_path):
    env.set("MODEL_URI", str(tmp_path / "registry"))
    env.set("KPI_DIR", str(tmp_path / "kpis"))
    text = f"no complete version in {tmp_path}/registry; the store {tmp_path}/kpis/jobs/x/state.json is read-only"
    assert redact_paths(text) == "no complete version in MODEL_URI; the store KPI_DIR/jobs/x/state.json is read-only"
    assert redact_paths(f"{PROJECT_ROOT}/data/telco.toml is not TOML") == "DATA_CONFIG is not TOML"


def test_other_server_paths_keep_only_their_last_part_and_urls_stay():
    text = "cannot read /srv/app/models/v1/model.joblib ('/etc/passwd'); follow it at /train/20260101T000000Z-abcdef"
    assert redact_paths(text) == "cannot read model.joblib ('passwd'); follow it at /train/20260101T000000Z-abcdef"
    assert redact_paths("s3://bucket/prefix/v1 and /models/../../etc/promote") == (
        "s3://bucket/prefix/v1 and /models/../../etc/promote"
    )
