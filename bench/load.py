"""Many annotators at once on the real stack: latency per endpoint, click-to-mask, errors and lost writes.

Usage: python bench/load.py [--annotators 10 25 50] [--duration 60] [--think 2.0] [--web-workers 4] [--web-threads 8]
gunicorn (several workers, threads) + PostgreSQL (database `bench_load`, dropped and re-created) + Redis (db 12) +
a Celery worker with 2 processes on the `interactive` queue (the cold start: a fresh project's generator), all on
loopback, started with bench/interactive.py's Stack. Each level runs N annotator threads, each its own user
(annotator role), and N/10 reviewer threads (reviewer role) for `--duration` seconds. An annotator's loop is the
labeler's: claim the next image, load its pixels, targets and masks, click 3 targets one at a time (each waiting
for its masks: inline within `?wait=3` or by polling the generation), move one point, replace one mask by hand,
submit. A reviewer lists submitted images, reads their masks and confirms them. Between actions a user thinks for
a uniform 0.5-1.5 x `--think` seconds. Afterwards the database is compared with what every client believes it
saved (lost writes), and one in-process pass counts the SQL queries per endpoint. Prints one JSON line and writes
bench/reports/load.md and bench/reports/load.json.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.interactive import Stack, _free_port, _percentile, _png, stack_env, synthetic_frame  # noqa: E402

GENERATION = {"POST targets (click)", "PATCH target (move)", "GET generation (poll)"}
WAIT = 3  # seconds, as the browser asks (frontend/src/api.js)


def _peaks(frame: np.ndarray, count: int) -> list[tuple[float, float]]:
    """The `count` brightest local peaks (x, y): where the synthetic targets are."""
    work = frame.astype(np.float64)
    found = []
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmax(work)), work.shape)
        found.append((float(x), float(y)))
        work[max(0, y - 8) : y + 9, max(0, x - 8) : x + 9] = -1
    return found


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(_percentile(values, 95), 1),
        "p99_ms": round(_percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
    }


class Ledger:
    """What the clients believe they saved, and every timing they saw (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: list[dict] = []
        self.clicks: list[dict] = []  # click-to-mask, with the job's own timings
        self.targets: dict[int, tuple[int, float, float]] = {}  # id -> (image, x, y) after the last 2xx
        self.masks: dict[int, str] = {}  # target id -> RLE counts of the last 2xx hand edit
        self.submitted: set[int] = set()
        self.confirmed: dict[int, dict[int, str]] = {}  # image id -> {target id: RLE the reviewer saw}
        self.images_done = 0

    def timing(self, name: str, ms: float) -> None:
        with self.lock:
            self.timings[name].append(ms)

    def error(self, name: str, detail: str, kind: str) -> None:
        with self.lock:
            self.errors.append({"endpoint": name, "kind": kind, "detail": detail[:300]})


class Client:
    """One user's HTTP session (keep-alive) with its token; every call is timed and checked."""

    def __init__(self, port: int, token: str, ledger: Ledger, stop: threading.Event, think: float, seed: int):
        self.base, self.ledger, self.stop, self.think_s = f"http://127.0.0.1:{port}/api/v1", ledger, stop, think
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.rng = random.Random(seed)

    def call(self, name: str, method: str, path: str, body: dict | None = None, ok: tuple = (200,)):
        start = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, json=body, timeout=30)
        except requests.RequestException as exc:
            self.ledger.error(name, f"{type(exc).__name__}: {exc}", type(exc).__name__)
            return None, None
        ms = (time.perf_counter() - start) * 1000
        self.ledger.timing(name, ms)
        if response.status_code not in ok:
            self.ledger.error(
                name, f"{response.status_code} {method} {path}: {response.text}", str(response.status_code)
            )
            return response.status_code, None
        return response.status_code, (response.json() if "json" in response.headers.get("Content-Type", "") else b"")

    def think(self) -> bool:
        """Pause like a person; False once the level is over."""
        return not self.stop.wait(self.think_s * self.rng.uniform(0.5, 1.5))

    def until_masks(self, name: str, image_id: int, body: dict, started: float) -> None:
        """From a target change's answer to the image's new masks (polling when the wait ran out)."""
        generation = body["generation"]
        deadline = started + 30
        while not generation["done"] and time.perf_counter() < deadline:
            _, polled = self.call("GET generation (poll)", "GET", f"/images/{image_id}/generation/?wait={WAIT}")
            if polled is None:
                return
            generation = polled
        total = (time.perf_counter() - started) * 1000
        if not generation["done"]:
            self.ledger.error(name, f"no masks 30 s after the change on image {image_id}", "no masks in 30 s")
            return
        job = generation["job"] or {}
        created, finished = job.get("created_at"), job.get("finished_at")
        span = None
        if created and finished:
            span = (dt.datetime.fromisoformat(finished) - dt.datetime.fromisoformat(created)).total_seconds() * 1000
        result = job.get("result") or {}
        with self.ledger.lock:
            self.ledger.clicks.append(
                {
                    "kind": name,
                    "ms": total,
                    "job_span_ms": span,
                    "worker_ms": result.get("worker_ms"),
                    "model_ms": result.get("model_ms"),
                    "waited_ms": generation["waited_ms"],
                    "has_mask": any(m["target_id"] == body["id"] for m in generation["masks"] or []),
                }
            )


def annotator(client: Client, project_id: int, points: dict[int, list[tuple[float, float]]]) -> None:
    ledger = client.ledger
    while not client.stop.is_set():
        status, image = client.call("POST claim", "POST", f"/projects/{project_id}/images/claim/", ok=(200, 404))
        if image is None:
            if status == 404:
                return  # nothing left to label
            if not client.think():
                return
            continue
        image_id = image["id"]
        client.call("GET pixels", "GET", f"/images/{image_id}/pixels/")
        client.call("GET targets", "GET", f"/images/{image_id}/targets/")
        client.call("GET masks", "GET", f"/images/{image_id}/masks/")
        made = []
        for px, py in points[image["content_hash"]]:
            if not client.think():
                return
            x, y = px + client.rng.uniform(-0.5, 0.5), py + client.rng.uniform(-0.5, 0.5)
            started = time.perf_counter()
            _, body = client.call(
                "POST targets (click)", "POST", f"/images/{image_id}/targets/?wait={WAIT}", {"x": x, "y": y}, (201,)
            )
            if body is None:
                continue
            with ledger.lock:
                ledger.targets[body["id"]] = (image_id, body["x"], body["y"])
            client.until_masks("POST targets (click)", image_id, body, started)
            made.append(body)
        if len(made) >= 2 and client.think():
            first = made[0]
            started = time.perf_counter()
            _, moved = client.call(
                "PATCH target (move)",
                "PATCH",
                f"/targets/{first['id']}/?wait={WAIT}",
                {"version": first["version"], "x": first["x"] + 0.7, "y": first["y"] - 0.4},
            )
            if moved is not None:
                with ledger.lock:
                    ledger.targets[moved["id"]] = (image_id, moved["x"], moved["y"])
                client.until_masks("PATCH target (move)", image_id, moved, started)
        if len(made) >= 2 and client.think():
            _edit_mask(client, image, made[1])
        if not client.think():
            return
        _, done = client.call("POST submit", "POST", f"/images/{image_id}/submit/", {})
        if done is not None:
            with ledger.lock:
                ledger.submitted.add(image_id)
                ledger.images_done += 1


def _edit_mask(client: Client, image: dict, target: dict) -> None:
    """Replace the target's mask by a hand-painted 5x5 square around its point (version-checked)."""
    from pycocotools import mask as coco_mask

    status, current = client.call("GET mask", "GET", f"/targets/{target['id']}/mask/", ok=(200, 404))
    if status not in (200, 404):
        return  # already counted as an error; guessing a version would only add a 409
    version = current["version"] if status == 200 else 0
    raster = np.zeros((image["height"], image["width"]), dtype=np.uint8)
    cx, cy = int(round(target["x"])), int(round(target["y"]))
    raster[max(0, cy - 2) : cy + 3, max(0, cx - 2) : cx + 3] = 1
    counts = coco_mask.encode(np.asfortranarray(raster))["counts"].decode("ascii")
    rle = {"size": [image["height"], image["width"]], "counts": counts}
    _, saved = client.call("PUT mask", "PUT", f"/targets/{target['id']}/mask/", {"version": version, "rle": rle})
    if saved is not None:
        with client.ledger.lock:
            client.ledger.masks[target["id"]] = counts


def reviewer(client: Client, project_id: int, index: int, count: int) -> None:
    """Confirm submitted images (each reviewer takes the ids equal to its index modulo the reviewer count)."""
    while client.think():
        _, page = client.call("GET images (submitted)", "GET", f"/projects/{project_id}/images/?status=submitted")
        for image in (page or {}).get("results", []):
            if image["id"] % count != index or client.stop.is_set():
                continue
            _, masks = client.call("GET masks", "GET", f"/images/{image['id']}/masks/")
            if masks is None or not client.think():
                continue
            seen = {m["target_id"]: m["rle"]["counts"] for m in masks}
            path = f"/images/{image['id']}/confirm/"
            _, done = client.call("POST confirm", "POST", path, {"version": image["version"]})
            if done is not None:
                with client.ledger.lock:
                    client.ledger.confirmed[image["id"]] = seen


# --- CPU accounting from /proc -----------------------------------------------------------------------------------


def _cpu_snapshot(stack: Stack, database: str) -> dict:
    """CPU seconds so far: the machine, the web server, the worker, our PostgreSQL backends, Redis, the clients."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    out = {"machine_busy": (sum(fields) - fields[3] - fields[4]) / tick, "machine_total": sum(fields) / tick}
    groups = {stack.procs[0].pid: "web (gunicorn)", stack.procs[1].pid: "worker (celery)"}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                raw = handle.read()
            cmdline = open(f"/proc/{entry.name}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        rest = raw.rsplit(")", 1)[1].split()
        pgrp, seconds = int(rest[2]), (int(rest[11]) + int(rest[12])) / tick
        if int(entry.name) == os.getpid():
            name = "clients (this process)"
        elif pgrp in groups:
            name = groups[pgrp]
        elif cmdline.startswith("postgres:") and f" {database} " in cmdline:
            name = "postgres (bench backends)"
        elif "redis-server" in cmdline:
            name = "redis (whole server)"
        else:
            continue
        out[name] = out.get(name, 0.0) + seconds
    return out


def _cpu_use(before: dict, after: dict, seconds: float) -> dict:
    """Cores used on average over the level, per part (1.0 = one core busy the whole time)."""
    use = {k: round((after.get(k, 0.0) - before.get(k, 0.0)) / seconds, 2) for k in after if k != "machine_total"}
    use["machine_busy"] = round(
        (after["machine_busy"] - before["machine_busy"]) / (after["machine_total"] - before["machine_total"]) * 100, 1
    )
    ours = sum(v for k, v in use.items() if k != "machine_busy")
    use["rest of the machine"] = round(max(0.0, use["machine_busy"] / 100 * (os.cpu_count() or 1) - ours), 2)
    return use


# --- setup, the run, and the check against the database ---------------------------------------------------------


def _frames(count: int, size: int) -> list[tuple[bytes, list[tuple[float, float]]]]:
    """`count` distinct 16-bit SIRST-like frames as PNG, each with its 3 brightest targets' positions."""
    out = []
    for k in range(count):
        frame = synthetic_frame(size, seed=10_000 + k)
        out.append((_png(frame), _peaks(frame, 3)))
    return out


def _setup_level(name: str, level: int, reviewers: int, frames: list) -> dict:
    """A project with `len(frames)` images, `level` annotators and `reviewers` reviewers, each with a token."""
    import hashlib

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from bench import app
    from labeling.choices import Role
    from labeling.services.images import image_create
    from labeling.services.projects import project_create

    users = get_user_model().objects
    owner = users.create_user(f"{name}-owner", password="x")
    project = project_create(name=name, actor=owner)
    for k, (data, _) in enumerate(frames):
        image_create(project=project, file_name=f"frame_{k:05d}.png", data=data, actor=owner)
    tokens = {}
    for role, count in ((Role.ANNOTATOR, level), (Role.REVIEWER, reviewers)):
        tokens[role] = []
        for i in range(count):
            user = users.create_user(f"{name}-{role}-{i}", password="x")
            app.member_add(project, user, role)
            tokens[role].append(Token.objects.create(user=user).key)
    points = {hashlib.sha256(data).hexdigest(): pts for data, pts in frames}
    return {"project": project, "tokens": tokens, "points": points}


def _summary(ledger: Ledger, seconds: float) -> dict:
    endpoints = {name: _stats(values) for name, values in sorted(ledger.timings.items())}
    errors = collections.Counter(e["endpoint"] for e in ledger.errors)
    for name, cell in endpoints.items():
        cell["errors"] = errors.get(name, 0)
    requests_total = sum(len(v) for v in ledger.timings.values())
    clicks = [c for c in ledger.clicks if c["kind"] == "POST targets (click)"]
    moves = [c for c in ledger.clicks if c["kind"] == "PATCH target (move)"]
    spans = [c for c in ledger.clicks if c["job_span_ms"] is not None and c["worker_ms"] is not None]

    def median(key) -> float | None:
        values = [key(c) for c in spans]
        return round(statistics.median(values), 1) if values else None

    non_generation = [ms for name, values in ledger.timings.items() if name not in GENERATION for ms in values]
    return {
        "seconds": round(seconds, 1),
        "requests": requests_total,
        "requests_per_s": round(requests_total / seconds, 1),
        "clicks_per_s": round(len(clicks) / seconds, 2),
        "images_submitted": ledger.images_done,
        "errors": len(ledger.errors),
        "error_rate": round(len(ledger.errors) / max(1, requests_total + len(ledger.errors)), 4),
        "errors_by_kind": dict(collections.Counter(f"{e['endpoint']}: {e['kind']}" for e in ledger.errors)),
        "error_examples": ledger.errors[:5],
        "non_generation": _stats(non_generation),
        "click_to_mask": _stats([c["ms"] for c in clicks]),
        "move_to_mask": _stats([c["ms"] for c in moves]),
        "clicks_with_own_mask": round(sum(c["has_mask"] for c in clicks) / max(1, len(clicks)), 3),
        "where_time_goes_p50_ms": {
            "client_total": median(lambda c: c["ms"]),
            "job_created_to_finished": median(lambda c: c["job_span_ms"]),
            "queue_and_dispatch": median(lambda c: c["job_span_ms"] - c["worker_ms"]),
            "worker": median(lambda c: c["worker_ms"]),
            "model": median(lambda c: c["model_ms"]),
            "request_outside_job": median(lambda c: c["ms"] - c["job_span_ms"]),
        },
        "where_time_goes_p95_ms": {
            "queue_and_dispatch": round(_percentile([c["job_span_ms"] - c["worker_ms"] for c in spans], 95), 1)
            if spans
            else None,
            "worker": round(_percentile([c["worker_ms"] for c in spans], 95), 1) if spans else None,
            "request_outside_job": round(_percentile([c["ms"] - c["job_span_ms"] for c in spans], 95), 1)
            if spans
            else None,
        },
        "endpoints": endpoints,
    }


def _sample_queue(broker_url: str, stop: threading.Event, out: list[int]) -> None:
    """Messages waiting in Redis for a free worker process, twice a second: a growing queue means saturation."""
    import redis

    client = redis.Redis.from_url(broker_url)
    while not stop.wait(0.5):
        out.append(int(client.llen("interactive")))


def _run_level(stack: Stack, level: int, args, frames: list, database: str) -> dict:
    from bench import app

    reviewers = max(1, level // 10)
    setup = _setup_level(f"load-{level}", level, reviewers, frames)
    project, ledger, stop = setup["project"], Ledger(), threading.Event()
    threads = []
    for i, token in enumerate(setup["tokens"]["annotator"]):
        client = Client(stack.port, token, ledger, stop, args.think, seed=level * 1000 + i)
        threads.append(threading.Thread(target=annotator, args=(client, project.pk, setup["points"])))
    for i, token in enumerate(setup["tokens"]["reviewer"]):
        client = Client(stack.port, token, ledger, stop, args.think, seed=level * 1000 + 900 + i)
        threads.append(threading.Thread(target=reviewer, args=(client, project.pk, i, reviewers)))
    queue_lengths: list[int] = []
    threads.append(threading.Thread(target=_sample_queue, args=(args.broker_url, stop, queue_lengths)))
    load_before = os.getloadavg()
    cpu_before = _cpu_snapshot(stack, database)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
        time.sleep(args.ramp / len(threads))  # users arrive over `ramp` seconds, not all in the same millisecond
    stop.wait(max(0.0, args.duration - args.ramp))
    stop.set()
    for thread in threads:
        thread.join(90)
    seconds = time.perf_counter() - started
    cpu = _cpu_use(cpu_before, _cpu_snapshot(stack, database), seconds)
    line = {"annotators": level, "reviewers": reviewers, **_summary(ledger, seconds)}
    line["loadavg_before"] = [round(v, 2) for v in load_before]
    line["interactive_queue_length"] = {
        "mean": round(statistics.mean(queue_lengths), 1) if queue_lengths else None,
        "max": max(queue_lengths, default=None),
    }
    line["cpu_cores_used"] = cpu
    line["jobs"] = app.jobs_drain(project)
    line["cpu_ms_per"] = {  # what one request / one generation job costs, to size a machine from the figures
        "request (web)": round(cpu.get("web (gunicorn)", 0) * seconds * 1000 / max(1, line["requests"]), 1),
        "request (postgres)": round(
            cpu.get("postgres (bench backends)", 0) * seconds * 1000 / max(1, line["requests"]), 1
        ),
        "generation job (worker)": round(
            cpu.get("worker (celery)", 0) * seconds * 1000 / max(1, line["jobs"]["jobs"]), 1
        ),
    }
    line["writes"] = app.ledger_verify(project, ledger)
    return line


def _query_counts(frames: list) -> dict:
    """SQL queries per request of one annotator loop and one review, in this process (django.test.Client with
    the same settings as the server; generation still runs on the real worker). A click's count includes the
    job-row polls of its wait, listed apart."""
    import hashlib

    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    setup = _setup_level("queries", 1, 1, frames[:1])
    project = setup["project"]
    annotator_client = DjangoClient(HTTP_AUTHORIZATION=f"Token {setup['tokens']['annotator'][0]}")
    reviewer_client = DjangoClient(HTTP_AUTHORIZATION=f"Token {setup['tokens']['reviewer'][0]}")
    counts: dict[str, dict] = {}

    def run(name: str, client, method: str, path: str, body: dict | None = None):
        with CaptureQueriesContext(connection) as ctx:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
            response = getattr(client, method)(f"/api/v1{path}", **kwargs)
        polls = sum('FROM "labeling_job" WHERE "labeling_job"."id" =' in q["sql"] for q in ctx.captured_queries)
        cell = counts.setdefault(name, {"queries": [], "job_polls": [], "status": response.status_code})
        cell["queries"].append(len(ctx.captured_queries))
        cell["job_polls"].append(polls)
        return response.json() if response.get("Content-Type", "").startswith("application/json") else None

    image = run("POST claim", annotator_client, "post", f"/projects/{project.pk}/images/claim/")
    image_id = image["id"]
    run("GET pixels", annotator_client, "get", f"/images/{image_id}/pixels/")
    run("GET targets", annotator_client, "get", f"/images/{image_id}/targets/")
    made = []
    points = setup["points"][hashlib.sha256(frames[0][0]).hexdigest()]
    for x, y in points:
        made.append(
            run(
                "POST targets (click)",
                annotator_client,
                "post",
                f"/images/{image_id}/targets/?wait=3",
                {"x": x, "y": y},
            )
        )
    run("GET masks", annotator_client, "get", f"/images/{image_id}/masks/")
    first = made[0]
    run(
        "PATCH target (move)",
        annotator_client,
        "patch",
        f"/targets/{first['id']}/?wait=3",
        {"version": first["version"], "x": first["x"] + 0.7},
    )
    mask = run("GET mask", annotator_client, "get", f"/targets/{made[1]['id']}/mask/")
    run(
        "PUT mask",
        annotator_client,
        "put",
        f"/targets/{made[1]['id']}/mask/",
        {"version": mask["version"], "rle": {"size": mask["rle"]["size"], "counts": mask["rle"]["counts"]}},
    )
    run("GET generation (poll)", annotator_client, "get", f"/images/{image_id}/generation/?wait=0")
    run("POST submit", annotator_client, "post", f"/images/{image_id}/submit/", {})
    run("GET images (submitted)", reviewer_client, "get", f"/projects/{project.pk}/images/?status=submitted")
    run("POST confirm", reviewer_client, "post", f"/images/{image_id}/confirm/", {})
    return {
        name: {"queries": max(c["queries"]), "job_polls": max(c["job_polls"]), "status": c["status"]}
        for name, c in counts.items()
    }


def _warm_up(stack: Stack, frames: list) -> None:
    """Every gunicorn worker and thread past its first requests (URL conf, DRF, DB connection) before timing."""
    from concurrent.futures import ThreadPoolExecutor

    setup = _setup_level("warm-up", 1, 0, frames[:1])
    token, project = setup["tokens"]["annotator"][0], setup["project"]
    image_id = project.images.get().pk
    client = Client(stack.port, token, Ledger(), threading.Event(), 0.0, seed=0)
    client.call("POST targets (click)", "POST", f"/images/{image_id}/targets/?wait={WAIT}", {"x": 10, "y": 10}, (201,))
    paths = [f"/images/{image_id}/{p}/" for p in ("pixels", "targets", "masks", "generation")] * 64

    def get(path: str) -> None:
        requests.get(client.base + path, headers={"Authorization": f"Token {token}"}, timeout=30)

    with ThreadPoolExecutor(stack.web_workers * stack.web_threads) as pool:
        list(pool.map(get, paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per level")
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds a user thinks between actions")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the users arrive")
    parser.add_argument("--size", type=int, default=512, help="frame side (16-bit)")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--keep-alive", type=int, default=75, help="gunicorn --keep-alive s (its default, 2, races idle clients)"
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_load")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "load.md"))
    args = parser.parse_args()

    env, work = stack_env(args.database_url, args.broker_url, "bench-load-")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    # enough images that nobody runs out: an image takes at least 7 pauses of 0.5 x think
    per_user = int(args.duration / (7 * 0.5 * args.think)) + 2
    frames = _frames(max(args.annotators) * per_user, args.size)
    stack = Stack(
        env,
        _free_port(),
        work,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        worker_concurrency=args.worker_concurrency,
        web_args=("--keep-alive", str(args.keep_alive)),
    )
    stack.start()
    _warm_up(stack, frames)
    database = args.database_url.rsplit("/", 1)[1]
    levels = []
    try:
        for level in args.annotators:
            levels.append(_run_level(stack, level, args, frames[: level * per_user], database))
            done = levels[-1]
            lost = f"{done['writes']['lost']} lost of {sum(done['writes']['checked'].values())} checked"
            progress = {k: done[k] for k in ("annotators", "errors", "non_generation", "click_to_mask")}
            print(json.dumps({**progress, "writes": lost}), file=sys.stderr)
        queries = _query_counts(frames)
    finally:
        stack.stop()
    config = {
        "web": f"gunicorn -w {args.web_workers} --threads {args.web_threads} --keep-alive {args.keep_alive}",
        "worker": f"celery -Q interactive -c {args.worker_concurrency} (cold start)",
        "duration_s": args.duration,
        "think_s": args.think,
        "frame": f"{args.size}x{args.size} uint16",
        "cpu_cores": os.cpu_count(),
    }
    line = {"bench": "load", "config": config, "levels": levels, "queries_per_request": queries}
    line["goal_met"] = {str(lv["annotators"]): _goal(lv) for lv in levels}
    print(json.dumps(line))
    Path(args.report).with_suffix(".json").write_text(json.dumps(line, indent=1) + "\n")
    _write_report(Path(args.report), line, " ".join(sys.argv[1:]))


def _goal(level: dict) -> dict:
    return {
        "non_generation_p95_le_200ms": max(
            (c.get("p95_ms", 0) for k, c in level["endpoints"].items() if k not in GENERATION), default=0
        )
        <= 200,
        "click_to_mask_p95_le_500ms": level["click_to_mask"].get("p95_ms", 1e9) <= 500,
        "zero_errors": level["errors"] == 0,
        "zero_lost_writes": level["writes"]["lost"] == 0,
    }


def _write_report(path: Path, line: dict, argv: str) -> None:
    """bench/reports/load.md: the summary against the goal, then one section per place the time or a write went."""
    levels = line["levels"]
    sections = (
        _summary_section(line, argv),
        _endpoint_section(levels),
        _time_section(levels),
        _cpu_section(levels, line["config"]),
        _queries_section(line),
        _lost_writes_section(levels),
        _errors_section(levels),
    )
    path.write_text("\n".join(row for section in sections for row in section))


def _cell(stats: dict, key: str) -> str:
    return str(stats.get(key, "-"))


def _summary_section(line: dict, argv: str) -> list[str]:
    levels, config = line["levels"], line["config"]
    out = [
        "# Many annotators at once (real stack, CPU)",
        "",
        f"Command: `python bench/load.py {argv}`".replace("load.py `", "load.py`"),
        "",
        f"Stack: {config['web']}, {config['worker']}, PostgreSQL, Redis, all on loopback; frames "
        f"{config['frame']} (synthetic SIRST-like); think time uniform 0.5-1.5 x {config['think_s']} s between "
        f"actions; {config['duration_s']} s per level. Machine: {config['cpu_cores']} CPU cores shared by the web "
        "server, the worker, the clients, PostgreSQL and Redis (and other people's work: see load average and "
        "'rest of the machine'), so these figures are a lower bound of a real deployment.",
        "",
        "## Summary",
        "",
        "| annotators | reviewers | req/s | clicks/s | images submitted | errors (rate) | non-generation p95 "
        "(worst endpoint) ms | click→mask p50 / p95 / p99 ms | move→mask p95 ms | lost writes | goal met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        worst = max(
            ((c.get("p95_ms", 0), k) for k, c in lv["endpoints"].items() if k not in GENERATION), default=(0, "-")
        )
        c2m = lv["click_to_mask"]
        goal = line["goal_met"][str(lv["annotators"])]
        out.append(
            f"| {lv['annotators']} | {lv['reviewers']} | {lv['requests_per_s']} | {lv['clicks_per_s']} | "
            f"{lv['images_submitted']} | {lv['errors']} ({lv['error_rate']:.2%}) | {worst[0]} ({worst[1]}) | "
            f"{_cell(c2m, 'p50_ms')} / {_cell(c2m, 'p95_ms')} / {_cell(c2m, 'p99_ms')} | "
            f"{_cell(lv['move_to_mask'], 'p95_ms')} | {lv['writes']['lost']} lost of "
            f"{sum(lv['writes']['checked'].values())} checked | {'yes' if all(goal.values()) else 'no'} |"
        )
    out += [
        "",
        "Goal (issue #9): 50 annotators, p95 ≤ 200 ms for non-generation endpoints, p95 ≤ 500 ms "
        "click-to-mask, 0 errors, 0 lost writes.",
        "",
    ]
    return out


def _endpoint_section(levels: list[dict]) -> list[str]:
    out = [
        "## Per endpoint",
        "",
        "| annotators | endpoint | n | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        for name, stats in lv["endpoints"].items():
            out.append(
                f"| {lv['annotators']} | {name} | {stats['n']} | {_cell(stats, 'p50_ms')} | {_cell(stats, 'p95_ms')} | "
                f"{_cell(stats, 'p99_ms')} | {_cell(stats, 'max_ms')} | {stats['errors']} |"
            )
    return out


def _time_section(levels: list[dict]) -> list[str]:
    out = [
        "",
        "## Where a click's time goes",
        "",
        "From each click's generation job (`created_at`, `finished_at`, `result.worker_ms`, `result.model_ms`): "
        "queue and dispatch = job created → finished minus the worker's time (commit, Redis, waiting for a free "
        "worker process); request outside the job = what the client saw minus the job's span (auth, locks and "
        "writes before the job row, noticing the finish by polling, serialising the masks, HTTP).",
        "",
        "| annotators | client p50 | job span p50 | queue+dispatch p50 / p95 | worker p50 / p95 | model p50 | "
        "request outside the job p50 / p95 | messages waiting in Redis, mean / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        p50, p95 = lv["where_time_goes_p50_ms"], lv["where_time_goes_p95_ms"]
        out.append(
            f"| {lv['annotators']} | {p50['client_total']} | {p50['job_created_to_finished']} | "
            f"{p50['queue_and_dispatch']} / {p95['queue_and_dispatch']} | {p50['worker']} / {p95['worker']} | "
            f"{p50['model']} | {p50['request_outside_job']} / {p95['request_outside_job']} | "
            f"{lv['interactive_queue_length']['mean']} / {lv['interactive_queue_length']['max']} |"
        )
    return out


def _cpu_section(levels: list[dict], config: dict) -> list[str]:
    parts = sorted({k for lv in levels for k in lv["cpu_cores_used"]} - {"machine_busy"})
    out = [
        "",
        f"## CPU (cores used on average during the level; the machine has {config['cpu_cores']})",
        "",
        "| annotators | load avg before | machine busy % | " + " | ".join(parts) + " |",
        "|---" * (len(parts) + 3) + "|",
    ]
    for lv in levels:
        cpu = lv["cpu_cores_used"]
        out.append(
            f"| {lv['annotators']} | {lv['loadavg_before'][0]} | {cpu['machine_busy']} | "
            + " | ".join(str(cpu.get(p, 0)) for p in parts)
            + " |"
        )
    out += ["", "CPU time per operation (ms of CPU, not wall time), to size a machine from these figures:", ""]
    for lv in levels:
        costs = ", ".join(f"{k} {v}" for k, v in lv["cpu_ms_per"].items())
        out.append(f"- {lv['annotators']} annotators: {costs}")
    return out


def _queries_section(line: dict) -> list[str]:
    out = [
        "",
        "## SQL queries per request (one annotator loop and one review, in process)",
        "",
        "| endpoint | queries | of which job polls (waiting for the worker) |",
        "|---|---|---|",
    ]
    for name, q in line["queries_per_request"].items():
        out.append(f"| {name} | {q['queries']} | {q['job_polls']} |")
    return out


def _lost_writes_section(levels: list[dict]) -> list[str]:
    out = [
        "",
        "## Lost writes",
        "",
        "After each level (and once every generation job has finished) the database is compared with what "
        "the clients were told was saved: every target with a 201/200 exists with the coordinates of its last "
        "acknowledged write, every hand-edited mask exists with the same pixels (edited or confirmed), every "
        "submitted image is submitted or confirmed, every confirmed image is confirmed and every mask the "
        "reviewer saw is confirmed with the pixels the reviewer saw; targets nobody was told about "
        "(duplicates) are counted apart.",
        "",
        "| annotators | checked | lost | unacknowledged targets | generation jobs (failed, unfinished) |",
        "|---|---|---|---|---|",
    ]
    for lv in levels:
        w, jobs = lv["writes"], lv["jobs"]
        checked = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in w["checked"].items())
        out.append(
            f"| {lv['annotators']} | {checked} | **{w['lost']} lost** | {w['unacknowledged_targets']} | "
            f"{jobs['jobs']} ({jobs['failed']}, {jobs['unfinished']}) |"
        )
        out += [f"| | {example} | | | |" for example in w["lost_examples"]]
    return out


def _errors_section(levels: list[dict]) -> list[str]:
    out = []
    errors = [e for lv in levels for e in lv["error_examples"]]
    if errors:
        out += ["", "## Errors", ""]
        out += [f"- {lv['annotators']} annotators: {lv['errors_by_kind']}" for lv in levels if lv["errors"]]
        out += ["", "First errors:", ""] + [f"- `{e['endpoint']}`: {e['detail']}" for e in errors[:10]]
    out += ["", "Raw figures: `bench/reports/load.json`.", ""]
    return out


if __name__ == "__main__":
    main()
