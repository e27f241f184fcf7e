"""Private servers that fault tests start, break and remove: Redis, a PostgreSQL cluster, gunicorn, a tmpfs.

Nothing here touches the shared PostgreSQL (5432) or Redis (6379): every server runs on a free port of its own,
and a server that cannot be started fails the test (never a skip).
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.celery_worker import WorkerProcess

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.05) -> object:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def suite_database_url() -> str:
    """The pytest-django test database as a URL, for the server processes a test starts."""
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _stop_group(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class RedisServer:
    """A throwaway redis-server without persistence: a kill loses what it held, as a crashed broker would."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.port = port or free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        import redis

        log = self.workdir / f"redis-{self.port}.log"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.workdir), "--logfile", str(log)],
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)

        def up() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server on port {self.port} exited with {self.proc.returncode}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(up, timeout, f"redis-server on port {self.port}")

    def client(self):  # noqa: ANN201 - redis.Redis
        import redis

        return redis.Redis(port=self.port, socket_timeout=5)

    def kill(self) -> None:
        _stop_group(self.proc, signal.SIGKILL)

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP / SIGCONT: a hung broker (connections stay open, nothing answers), as a network partition is."""
        os.kill(self.proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


class WebServer:
    """gunicorn serving webapp.wsgi with the test settings; `env` names the database, broker and media."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1, threads: int = 2):
        self.port = free_port()
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.test", **env}
        self.log_path = log_path
        self.workers, self.threads = workers, threads
        self.proc: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def spawn(self) -> None:
        """Start gunicorn without waiting (`wait_ready` waits), so a slower process can start meanwhile."""
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "gunicorn", "webapp.wsgi", "-b", f"127.0.0.1:{self.port}"]
        cmd += ["-w", str(self.workers), "--threads", str(self.threads), "--timeout", "60", "--graceful-timeout", "5"]
        cmd += ["--no-control-socket"]  # its default path is shared by every gunicorn of this user
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def answers() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                return requests.get(self.url("/api/v1/me/"), timeout=2).status_code == 401
            except requests.RequestException:
                return False

        wait_for(answers, timeout, "gunicorn to answer", every=0.2)

    def boots(self) -> int:
        """How many worker processes gunicorn has booted: more than `workers` means one was restarted."""
        return self.log_path.read_text().count("Booting worker")

    def stop(self) -> None:
        _stop_group(self.proc, signal.SIGINT)  # gunicorn's quick shutdown: idle keep-alive clients are not awaited
        if getattr(self, "log", None):
            self.log.close()


class PostgresCluster:
    """A private PostgreSQL cluster (pg_createcluster on a free port, trust auth), dropped by `drop`."""

    def __init__(self):
        versions = sorted(Path(p).name for p in glob.glob("/usr/lib/postgresql/*") if Path(p, "bin").is_dir())
        if not versions:
            pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.version = versions[-1]
        self.port = free_port()
        self.name = f"faults_{os.getpid()}_{self.port}"
        self.created = False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def create(self) -> None:
        self._ctl(
            "pg_createcluster", self.version, self.name, "-p", str(self.port),
            "-o", "fsync=off",
            "--", "--auth=trust", "--no-sync",
        )  # fmt: skip
        self.created = True

    def action(self, verb: str) -> None:
        """start / stop / restart (a fast shutdown: open connections are cut, as a crash or failover would)."""
        args = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, verb]
        self._ctl(*(args + (["--", "-m", "fast"] if verb in ("stop", "restart") else [])))

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def drop(self) -> None:
        """Stop (immediate: nothing here is worth a checkpoint) and remove the cluster with its files."""
        stop = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "stop", "--", "-m", "immediate"]
        if self.created:
            subprocess.run(stop, capture_output=True, timeout=60, check=False)
            self._ctl("pg_dropcluster", self.version, self.name)


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run a manage.py command in its own process (its own settings and database); fail loudly on error."""
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.test", **env}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def json_error(response: requests.Response) -> str:
    """The `message` of an error response, after checking it is the API's {message, extra} without a traceback."""
    assert "Traceback" not in response.text and 'File "' not in response.text, response.text
    body = response.json()
    assert set(body) == {"message", "extra"} and body["message"], body
    return body["message"]


@dataclass
class Stack:
    """A running app on private servers: gunicorn and one Celery worker on a private Redis, sharing `media`."""

    redis: RedisServer
    web: WebServer
    worker: WorkerProcess
    media: Path
    env: dict[str, str]  # what the app's processes were started with (database, broker, media)


@contextmanager
def app_stack(tmp: Path, queues: str, worker_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Start the stack (gunicorn and the worker boot side by side); stop it, killing the worker, on exit."""
    media = tmp / "media"
    media.mkdir()
    redis = RedisServer(tmp)
    redis.start()
    env = {"DATABASE_URL": suite_database_url(), "CELERY_BROKER_URL": redis.url, "DJANGO_MEDIA_ROOT": str(media)}
    web = WebServer(env, tmp / "web.log")
    worker = WorkerProcess(queues, tmp / "worker.log", redis.url, media, env=worker_env)
    try:
        web.spawn()
        worker.start()
        web.wait_ready()
        yield Stack(redis, web, worker, media, env)
    finally:
        web.stop()
        worker.kill()  # the module is over: no need to wait for a warm shutdown
        worker.stop()
        redis.kill()


def team_session(stack: Stack, settings: object, role: str) -> tuple[object, requests.Session]:
    """A new project and a token session of a member with `role` against the stack's gunicorn (the test process's
    MEDIA_ROOT pointed at the stack's media, where the worker reads originals)."""
    from rest_framework.authtoken.models import Token

    from tests.factories import MembershipFactory, ProjectFactory

    settings.MEDIA_ROOT = stack.media
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=role).user
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    return project, http
