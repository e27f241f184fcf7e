"""Pre-labeling throughput (images/s) through the real stack: PostgreSQL, Redis, 1 and 2 `batch` worker processes.

SIRST train frames are uploaded with one point per target (centroid of each ground-truth component) and no
masks, like imported point labels; a pre-labeling Job over the project is split into chunks that the workers
share. The time is from the request's commit to the Job's success, after a warm-up job. Throw-away database
`test_bench_batch`; broker db 6 unless CELERY_BROKER_URL says otherwise.

    python bench/batch.py                       # cold start, 1 and 2 CPU workers, 128 images
    python bench/batch.py --checkpoint ml/weights/edgsp_small.pt   # a promoted EDGSP model serves
    EDGSP_DEVICE=cuda python bench/batch.py --workers 1 --checkpoint ...   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_batch")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-batch-media-"))

DATA = ROOT.parent / "shared" / "data" / "sirst"


def start_workers(n: int, log_dir: Path) -> list[subprocess.Popen]:
    """`n` worker processes on the `batch` queue (concurrency 1 each), as `docs/scaling.md` runs them."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    procs = []
    for i in range(n):
        log = open(log_dir / f"worker{i}.log", "w")  # noqa: SIM115 - lives as long as the worker
        name = f"bench{i}-{os.getpid()}@%h"
        cmd = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "batch", "-c", "1", "-l", "info",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", name]  # fmt: skip
        procs.append(
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    deadline = time.monotonic() + 120
    for i, proc in enumerate(procs):
        while " ready." not in (log_dir / f"worker{i}.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((log_dir / f"worker{i}.log").read_text())
            time.sleep(0.2)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(30)


def make_project(name: str, ids: list[str], checkpoint: str | None):  # noqa: ANN201 - a Project
    from bench import app
    from labeling.services.images import image_create
    from ml.data import read_mask
    from ml.points import centroid_points

    user = app.bench_user()
    project = app.owned_project(name, user)
    for image_id in ids:
        data = (DATA / "images" / f"{image_id}.png").read_bytes()
        image = image_create(project=project, file_name=f"{image_id}.png", data=data, actor=user)
        app.points_add(image, centroid_points(read_mask(DATA / "masks" / f"{image_id}.png")))
    if checkpoint:
        app.checkpoint_serve(project, str(Path(checkpoint).resolve()))
    return project


def timed_prelabel(project) -> dict:  # noqa: ANN001
    from labeling.choices import JobStatus
    from labeling.permissions import operator
    from labeling.services.jobs import job_wait
    from labeling.services.prelabel import project_prelabel_request

    start = time.perf_counter()
    with operator():  # the bench is the shell
        job = project_prelabel_request(project=project, actor=None)  # commits, then the chunks are sent
    job = job_wait(job, 1800)
    seconds = time.perf_counter() - start
    job.refresh_from_db()
    if job.status != JobStatus.SUCCEEDED:
        raise RuntimeError(f"job {job.pk} ended {job.status}: {job.message}")
    return {"images": job.total, "seconds": round(seconds, 2), "images_per_s": round(job.total / seconds, 2),
            "errors": len(job.errors), "masks": job.result.get("stored")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--checkpoint", default=None, help="serve this EDGSP checkpoint (default: cold start)")
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    ids = sorted((DATA / "splits" / "train.txt").read_text().split())
    warm_ids, ids = ids[:16], ids[16 : 16 + args.images]
    device = os.environ.get("EDGSP_DEVICE", "cpu")
    generator = "edgsp" if args.checkpoint else "coldstart"
    rows = []
    log_dir = Path(tempfile.mkdtemp(prefix="bench-batch-logs-"))
    for n in args.workers:
        procs = start_workers(n, log_dir)
        try:
            timed_prelabel(make_project(f"warm-up {n}", warm_ids, args.checkpoint))
            result = timed_prelabel(make_project(f"bench {n}", ids, args.checkpoint))
        finally:
            stop_workers(procs)
        row = {"workers": n, "generator": generator, "device": device, **result}
        rows.append(row)
        print(json.dumps(row), flush=True)
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    cores = os.cpu_count()
    print(f"{cores} CPU cores; images {np.mean([r['images'] for r in rows]):.0f} per run")


if __name__ == "__main__":
    main()
