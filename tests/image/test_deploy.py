"""The deployment files under deploy/, checked without a container engine: they parse,
every variable they set is a setting the product reads (and holds a value it accepts),
the probe paths are routes of the app, and images, ports and user agree with the
Dockerfile. nginx.conf and prometheus.yml are also run for real by tests/stack."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from lib.api.routes import routes
from lib.settings import ENV_KEYS, PROJECT_ROOT, get_settings
from tests.image.dockerfile import instructions, single

DEPLOY = PROJECT_ROOT / "deploy"
FOUND = instructions(PROJECT_ROOT / "Dockerfile")
PORT = int(single(FOUND, "EXPOSE").args)
USER_ID = int(single(FOUND, "USER").args.split(":")[0])
# What boto3 reads for the S3 registry: settings of the AWS SDK, not of the product.
AWS_KEYS = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
APP_KEYS = set(ENV_KEYS) | AWS_KEYS
ROUTES = {route.path for route in routes()}


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def manifests() -> dict[str, dict]:
    return {
        document["kind"]: document
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    }


def interpolated(value: str) -> str:
    """A compose value with ${NAME:?...} / ${NAME:-default} filled as an operator would."""
    return re.sub(r"\$\{([A-Z_]+)(?::[-?][^}]*)?\}", lambda m: f"example-{m.group(1).lower()}", str(value))


def test_the_compose_file_runs_two_replicas_behind_nginx_with_postgresql_minio_and_prometheus():
    services = compose()["services"]
    assert {"app-a", "app-b", "nginx", "postgres", "minio", "prometheus", "registry-init"} <= set(services)
    for name in ("app-a", "app-b"):
        app = services[name]
        assert (PROJECT_ROOT / "deploy" / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == (
            PROJECT_ROOT / "Dockerfile"
        )
        environment = {key: interpolated(value) for key, value in app["environment"].items()}
        assert set(environment) <= APP_KEYS, set(environment) - APP_KEYS
        assert environment["REPLICA_ID"] == name
        settings = get_settings(environment)  # every value is one the product accepts
        assert settings.monitoring_postgres is not None and settings.model_uri.startswith("s3://")
        assert settings.trusted_proxies == ("172.28.0.0/24",)
    subnet = compose()["networks"]["dashboard"]["ipam"]["config"][0]["subnet"]
    assert subnet == "172.28.0.0/24"  # nginx's address is in what the replicas trust
    for name, mounted in (("nginx", "nginx.conf"), ("prometheus", "prometheus.yml")):
        source = services[name]["volumes"][0].split(":")[0]
        assert (DEPLOY / source).resolve() == DEPLOY / mounted
    init = services["registry-init"]
    assert init["image"] == services["app-a"]["image"]
    assert init["command"][:3] == ["python", "-m", "lib.registry"] and "seed" in init["command"]


def test_nginx_and_prometheus_reach_the_port_the_image_exposes():
    nginx = (DEPLOY / "nginx.conf").read_text()
    upstreams = re.findall(r"server (app-[a-z]+):(\d+)", nginx)
    assert upstreams and {int(port) for _, port in upstreams} == {PORT}
    assert {host for host, _ in upstreams} == {"app-a", "app-b"}
    assert "ip_hash" in nginx and "proxy_set_header Upgrade $http_upgrade" in nginx
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] in ROUTES
    assert scrape["static_configs"][0]["targets"] == [f"app-a:{PORT}", f"app-b:{PORT}"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with Debian's prometheus")
def test_prometheus_accepts_the_scrape_config():
    done = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_kubernetes_manifests_agree_with_the_image_and_the_app():
    found = manifests()
    assert set(found) == {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret"}
    deployment = found["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == compose()["services"]["app-a"]["image"]
    (port,) = container["ports"]
    assert port["containerPort"] == PORT
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live" in ROUTES
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready" in ROUTES
    assert pod["securityContext"]["runAsUser"] == USER_ID and pod["securityContext"]["runAsNonRoot"]
    names = {variable["name"] for variable in container["env"]}
    assert names <= APP_KEYS, names - APP_KEYS
    secret = found["Secret"]
    references = [v["valueFrom"]["secretKeyRef"] for v in container["env"] if "secretKeyRef" in v.get("valueFrom", {})]
    assert {r["key"] for r in references} == set(secret["stringData"]) == {"ADMIN_TOKEN", "MONITORING_DB"}
    assert {r["name"] for r in references} == {secret["metadata"]["name"]}
    plain = {v["name"]: v["value"] for v in container["env"] if "value" in v}
    get_settings({**plain, **secret["stringData"], "REPLICA_ID": "prediction-dashboard-7d9f-abcde"})
    service = found["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    autoscaler = found["HorizontalPodAutoscaler"]["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert autoscaler["minReplicas"] >= 2
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in ROUTES and int(annotations["prometheus.io/port"]) == PORT


def test_no_real_secret_is_committed():
    secret = manifests()["Secret"]["stringData"]
    assert secret["ADMIN_TOKEN"] == "change-me" and "change-me" in secret["MONITORING_DB"]
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:?" in text and "ADMIN_TOKEN:?" in text  # the operator must set them
