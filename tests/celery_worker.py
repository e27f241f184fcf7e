"""A real Celery worker process on the real Redis broker, pointed at the test database (no eager mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _purge_broker() -> None:
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


class WorkerProcess:
    """`broker_url` and `env` default to the session's broker and environment; fault tests pass a private broker
    (and, e.g., a short redelivery time) so that killing it touches no one else."""

    def __init__(
        self,
        queues: str,
        log_path: Path,
        broker_url: str | None = None,
        media_root: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.queues = queues
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.media_root = Path(media_root or settings.MEDIA_ROOT)
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        self.extra_env = env or {}

    def start(self, timeout: float = 90.0) -> None:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webapp.settings.test",
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}",
            "DJANGO_MEDIA_ROOT": str(self.media_root),
            "CELERY_BROKER_URL": self.broker_url,
            "EDGSP_TORCH_THREADS": "1",
            **self.extra_env,
        }
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "worker",
                "-Q",
                self.queues,
                "-c",
                "1",
                "--pool",
                "prefork",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}-{self.queues.replace(',', '-')}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL the whole worker process group, as a crashed machine would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WorkerProcess]:
    """One worker for the session consuming every queue.

    Tests using it need transactional_db (the worker sees only committed rows) and must point
    settings.MEDIA_ROOT at `worker.media_root` (the worker reads originals from there).
    """
    global _session_worker
    with django_db_blocker.unblock():
        _purge_broker()
        worker = WorkerProcess("interactive,batch,loop,train", tmp_path_factory.mktemp("worker") / "worker.log")
        worker.start()
    _session_worker = worker
    yield worker
    _session_worker = None
    worker.stop()


@pytest.fixture
def worker(celery_worker_process, settings) -> WorkerProcess:
    """The session's one worker, with this test's MEDIA_ROOT pointed where the worker reads originals (so a kill
    hits the process running the task)."""
    settings.MEDIA_ROOT = celery_worker_process.media_root
    return celery_worker_process


_session_worker: WorkerProcess | None = None
SESSION_QUEUES = ("interactive", "batch", "loop", "train")


@pytest.fixture(autouse=True)
def _session_worker_idle(_django_db_marker) -> Iterator[None]:
    """Once a test is over, the session worker must not touch its rows while the database is flushed.

    Any test that saves a point enqueues generation; with the session worker running, it would pick that
    job up and hold row locks while pytest-django TRUNCATEs the tables (a deadlock PostgreSQL resolves by
    failing the flush). Teardown runs before the flush (this fixture depends on the db marker): drop the
    test's queued messages, then wait for the worker to finish (ack) what it already took.
    """
    yield
    worker = _session_worker
    if worker is None or worker.proc is None or worker.proc.poll() is not None:
        return
    import redis

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for queue in SESSION_QUEUES:
        for key in broker.scan_iter(match=f"{queue}*"):
            broker.delete(key)
    deadline = time.monotonic() + 30

    def taken() -> int:  # each worker keeps its unacked messages under its own key (webapp.celery)
        return sum(broker.hlen(key) for key in broker.scan_iter(match="unacked:*"))

    while taken() and time.monotonic() < deadline:
        time.sleep(0.05)
