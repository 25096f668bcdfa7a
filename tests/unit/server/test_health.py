"""How the health report shows durations and where the model came from."""

from lib.server.health import duration, shown_source
from lib.settings import PROJECT_ROOT


def test_durations_read_like_a_person_writes_them():
    assert [duration(s) for s in (5, 600, 3 * 3600 + 1800, 3 * 86_400)] == ["5 s", "10 min", "3.5 h", "3.0 days"]


def test_sources_are_shown_without_a_server_path(env, tmp_path):
    assert shown_source(str(PROJECT_ROOT / "models" / "v1")) == "models/v1"
    assert shown_source("s3://bucket/prefix/v1") == "s3://bucket/prefix/v1"
    assert shown_source("/srv/registry/v1") == "v1"
    env.set("MODEL_URI", str(tmp_path / "registry"))
    assert shown_source(str(tmp_path / "registry" / "v1")) == "MODEL_URI/v1"
