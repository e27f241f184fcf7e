"""Click-to-mask latency through the real stack: gunicorn, PostgreSQL, Redis and a real Celery worker.

Usage: python bench/interactive.py [--clicks 30] [--sizes 256 512] [--methods coldstart edgsp]
Each click is `POST /api/v1/images/{id}/targets/?wait=5` over HTTP on loopback; the time is from sending
the request to receiving the response that holds the new masks. The share spent in the model comes from
the job's own timing (`result.model_ms`). Prints one JSON line and writes bench/reports/interactive.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def synthetic_frame(size: int, seed: int) -> np.ndarray:
    """A 16-bit IR-like frame: smooth clutter, noise and a few small Gaussian targets."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    frame = 9000 + 1500 * np.sin(xx / 37.0) * np.cos(yy / 53.0) + rng.normal(0, 60, (size, size))
    for _ in range(6):
        cy, cx = rng.integers(20, size - 20, 2)
        frame += rng.uniform(2500, 9000) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1.0, 2.5) ** 2))
    return np.clip(frame, 0, 65535).astype(np.uint16)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def stack_env(database_url: str, broker_url: str, prefix: str, torch_threads: str = "1") -> tuple[dict, Path]:
    """A fresh database, an empty broker db and a scratch directory for one bench run; the environment the
    stack's processes (and this one, for Django) run with. Returns (env, scratch directory)."""
    import redis

    _ensure_database(database_url)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings.base",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "DJANGO_VAR_DIR": str(work),
        "EDGSP_TORCH_THREADS": torch_threads,
        "EDGSP_DEVICE": "cpu",
    }
    os.environ.update(env)
    redis.Redis.from_url(broker_url).flushdb()
    return env, work


class Stack:
    """gunicorn + a Celery worker on the interactive queue, as child processes of this script (each in its own
    process group, so `procs[0].pid` / `procs[1].pid` are the web / worker group ids)."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        logs: Path,
        web_workers: int = 2,
        web_threads: int = 4,
        worker_concurrency: int = 1,
        web_args: tuple[str, ...] = (),
    ):
        self.env, self.port, self.logs, self.procs = env, port, logs, []
        self.web_workers, self.web_threads, self.worker_concurrency = web_workers, web_threads, worker_concurrency
        self.web_args = web_args

    def start(self) -> None:
        web = ["gunicorn", "webapp.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", str(self.web_workers)]
        web += ["--threads", str(self.web_threads), *self.web_args]
        worker = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "webapp",
            "worker",
            "-Q",
            "interactive",
            "-c",
            str(self.worker_concurrency),
            "--pool",
            "prefork",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        for name, cmd in (("web", web), ("worker", worker)):
            log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
            self.procs.append(
                subprocess.Popen(
                    cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready = " ready." in (self.logs / "worker.log").read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/accounts/login/", timeout=2)
                if ready:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"stack did not start; see {self.logs}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _call(port: int, token: str, method: str, path: str, body: dict | None = None) -> tuple[dict, float]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}", data=data, method=method)
    request.add_header("Authorization", f"Token {token}")
    request.add_header("Content-Type", "application/json")
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    return (json.loads(raw) if raw else {}), elapsed


def _setup(methods: list[str], sizes: list[int]) -> tuple[str, dict]:
    """Users, one project per method (EDGSP: the shipped weights promoted), one image per size."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from bench import app
    from labeling.services.images import image_create
    from labeling.services.projects import project_create

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    token = Token.objects.create(user=user).key
    images: dict = {}
    weights = ROOT / "ml" / "weights" / "edgsp_small.pt"
    for method in methods:
        project = project_create(name=f"bench-{method}", actor=user)
        if method == "edgsp":
            if not weights.is_file():
                raise SystemExit(f"{weights} is missing: no shipped EDGSP weights to time")
            app.checkpoint_serve(project, str(weights), arch="edgsp_small")
        for size in sizes:
            image = image_create(
                project=project, file_name=f"frame_{size}.png", data=_png(synthetic_frame(size, seed=size)), actor=user
            )
            images[(method, size)] = image.pk
    return token, images


def _run_clicks(port: int, token: str, image_id: int, size: int, clicks: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    totals, model, worker = [], [], []
    for i in range(clicks + 3):  # the first 3 warm the worker (imports, model load) and are not counted
        x, y = rng.uniform(8, size - 8, 2)
        body, elapsed = _call(port, token, "POST", f"/images/{image_id}/targets/?wait=5", {"x": x, "y": y})
        generation = body["generation"]
        if not generation["done"]:
            raise SystemExit(f"worker did not answer within 5 s: {generation['job']}")
        if i >= 3:
            totals.append(elapsed)
            model.append(generation["job"]["result"]["model_ms"])
            worker.append(generation["job"]["result"]["worker_ms"])
        # keep one target on the image: delete it and wait for that regeneration to finish
        _call(port, token, "DELETE", f"/targets/{body['id']}/")
        _call(port, token, "GET", f"/images/{image_id}/generation/?wait=5")
    return {
        "p50_ms": round(statistics.median(totals), 1),
        "p95_ms": round(_percentile(totals, 95), 1),
        "model_p50_ms": round(statistics.median(model), 1),
        "worker_p50_ms": round(statistics.median(worker), 1),
        "model_share": round(statistics.median(model) / statistics.median(totals), 3),
        "clicks": clicks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--methods", nargs="+", default=["coldstart", "edgsp"], choices=["coldstart", "edgsp"])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_interactive")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--torch-threads", default="2")
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "interactive.md"))
    args = parser.parse_args()

    env, media = stack_env(args.database_url, args.broker_url, "bench-interactive-", args.torch_threads)
    token, images = _setup(args.methods, args.sizes)
    stack = Stack(env, _free_port(), media)
    stack.start()
    results: dict = {}
    try:
        for (method, size), image_id in images.items():
            results[f"{method}_{size}"] = _run_clicks(stack.port, token, image_id, size, args.clicks, seed=size)
    finally:
        stack.stop()
    line = {"bench": "interactive_click_to_mask", "cpu_cores": os.cpu_count(), "results": results}
    print(json.dumps(line))
    rows = [
        "| method | size | p50 ms | p95 ms | model p50 ms | worker p50 ms | model share |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, cell in results.items():
        method, size = key.rsplit("_", 1)
        rows.append(
            f"| {method} | {size}² | {cell['p50_ms']} | {cell['p95_ms']} | {cell['model_p50_ms']} | "
            f"{cell['worker_p50_ms']} | {cell['model_share']} |"
        )
    Path(args.report).write_text(
        "# Click-to-mask latency (real stack, CPU)\n\n"
        "Command: `python bench/interactive.py` — gunicorn (2 workers) + PostgreSQL + Redis + one Celery worker "
        f"on the `interactive` queue, {args.clicks} clicks per cell after 3 warm-up clicks, loopback HTTP with a "
        "token; time = request sent to response holding the new masks.\n\n" + "\n".join(rows) + "\n\n"
        "Goal: p95 ≤ 60 ms with the cold start and ≤ 150 ms with EDGSP at 512² on CPU.\n\n"
        f"Raw: `{json.dumps(line)}`\n"
    )


if __name__ == "__main__":
    main()
