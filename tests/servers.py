"""A real server process, `uvicorn app:app` as `make run` starts it, for e2e and API tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lib.server.http_server import SERVE_OPTIONS
from lib.settings import PROJECT_ROOT
from tests.helpers import free_port


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def launch(
    workdir: Path, port: int | None = None, serve_options: tuple[str, ...] = SERVE_OPTIONS, **env: str
) -> Server:
    """Start `uvicorn app:app` on a loopback port (a free one by default) and wait until
    Streamlit answers; serve_options: how the product is served, unless a test says otherwise."""
    port = port or free_port()
    log = workdir / f"server-{port}.log"
    environment = {
        **os.environ,
        "KPI_DIR": str(workdir / "kpis"),
        "MONITORING_DB": str(workdir / "kpis" / "monitoring.sqlite3"),
        "MODEL_CACHE_DIR": str(workdir / "cache"),
        **env,
    }
    with open(log, "wb") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app:app", *serve_options, "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server not ready in 30 s:\n{server.log_text()}")


class _OneWriteAtATime:
    """Moto checks a conditional PUT's If-Match and then stores the object, with no lock
    between the two; S3 itself applies a conditional write atomically. Serialising the
    writes (PUT, POST, DELETE) gives the test S3 the same guarantee; reads stay parallel."""

    def __init__(self, app: object) -> None:
        import threading

        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: object) -> object:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self.app(environ, start_response)  # type: ignore[operator]
        with self.lock:
            return list(self.app(environ, start_response))  # type: ignore[operator]


class S3Server:
    """Moto's S3 API over HTTP on a loopback port, in a thread of the test process."""

    def __init__(self) -> None:
        import threading

        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        app = _OneWriteAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", free_port(), app, True, request_handler=MotoRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program from Debian's package (not on PATH there)."""
    import glob
    import shutil

    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise AssertionError(f"{name} not found: install Debian's postgresql package (.ci/run does)")
    return found


INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")


class PostgresServer:
    """A real PostgreSQL server in a temporary folder, on a loopback port, no socket file.

    The server refuses to run as root: as root, it runs as the `postgres` user that
    Debian's package creates.
    """

    def __init__(self) -> None:
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self._as_owner, _postgres_bin("initdb"), "-D", str(self.folder / "data"), *INITDB_OPTIONS],
            check=True,
            capture_output=True,
        )
        self.start()

    def _ctl(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as_owner, _postgres_bin("pg_ctl"), "-D", str(self.folder / "data"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"pg_ctl {args[-1]} failed: {result.stdout}{result.stderr}\n{log}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._ctl("-o", options, "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "-t", "60", "stop")

    def new_database(self) -> str:
        """The URL of a new, empty database of this server (one per test)."""
        import secrets

        import psycopg

        name = f"test_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def remove(self) -> None:
        import shutil

        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


DEPLOY = PROJECT_ROOT / "deploy"
NGINX_TEMP = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxServer:
    """Debian's nginx on a loopback port, serving deploy/nginx.conf with its upstreams
    pointed at the given replicas (the file's own `server app-x:8000` lines replaced)."""

    def __init__(self, replicas: list[str], folder: Path) -> None:
        import re

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        site = (DEPLOY / "nginx.conf").read_text()
        servers = "".join(f"    server {r} max_fails=1 fail_timeout=5s;\n" for r in replicas)
        site = re.sub(r"(?:    server app-[a-z]+:8000[^\n]*\n)+", lambda _: servers, site)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        (folder / "site.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "".join(f"  {kind}_temp_path {folder}/{kind};\n" for kind in NGINX_TEMP)
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n  access_log {folder}/access.log;\n{temp}  include {folder}/site.conf;\n}}\n"
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", str(folder), "-c", str(folder / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "stderr.log", "wb"),  # noqa: SIM115 - the child keeps it
        )
        _wait_for_port(self.port, self.process, folder / "error.log")

    def stop(self) -> None:
        stop_process(self.process)


class PrometheusServer:
    """Debian's Prometheus on a loopback port, with deploy/prometheus.yml's scrape job
    pointed at the given replicas and a 1 s scrape interval."""

    def __init__(self, replicas: list[str], folder: Path) -> None:
        import shutil

        import yaml

        folder.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["scrape_configs"][0]["static_configs"] = [{"targets": replicas}]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                shutil.which("prometheus") or "/usr/bin/prometheus",
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "prometheus.log", "wb"),  # noqa: SIM115 - the child keeps it
        )
        _wait_for_port(self.port, self.process, folder / "prometheus.log")

    def query(self, expression: str) -> list[dict]:
        """An instant query through the HTTP API: the result vector."""
        import json
        import urllib.parse

        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self) -> None:
        stop_process(self.process)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")
