"""Replay a labeling project through the real stack and measure what the team was shown (test-then-train).

Frames arrive in a fixed order (a stable hash of the id). For each one, an "annotator" uploads it through the REST
API (the Django test client), clicks the centroid of every ground-truth target (each click makes the serving
generator's masks on a real `interactive` Celery worker, on Redis, with PostgreSQL), takes the masks shown,
replaces each with the ground truth where they differ, and confirms the frame. The learning loop then runs as in
production on its own workers: the `loop` worker scores the frame and calibrates, the `train` worker fine-tunes,
candidates are judged in shadow and promoted. Beat's check is sent every 300 s of simulated time.

Simulated time: the annotator takes `--frame-seconds` (30 s) per frame. While a fine-tune runs on the train
worker, frames arrive at that pace in real time (so a 300 s run spans 10 frames, as it would for a team);
otherwise the clock jumps ahead. The loop's quick jobs for a frame (scoring, calibration) are waited for before
the next frame: they take a second or two against the annotator's 30 s.

Every frame is scored with the masks shown before it was confirmed: nothing is scored by a model trained on it.

    python bench/stream.py --images DIR --masks DIR [--points POINTS.json] --out DIR [--order hash]
                           [--train-budget 300] [--frame-seconds 30] [--limit N]

Prints one JSON line (mean_shown_iou, late_shown_iou, pd, fat, merged, promotions, first_promotion_frame,
wall_s, ...) and writes DIR/stream.md, DIR/stream.png (shown IoU per frame, coloured by the generator that
served) and DIR/stream.json. Needs PostgreSQL and Redis (as ./scripts/test); uses its own database
(test_bench_stream) and Redis db 13, both emptied first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATE_AFTER = 20
BEAT_EVERY_S = 300.0


def _setup(out: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.test")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_stream")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_MEDIA_ROOT"] = str(media)
    import django

    django.setup()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def _workers(out: Path, budget: float) -> list:
    """One process per queue, as a deployment runs them: clicks, the loop's quick work (+ batch), training."""
    from django.conf import settings

    from tests.celery_worker import WorkerProcess

    env = {"EDGSP_TORCH_THREADS": "1", "CELERY_VISIBILITY_TIMEOUT": str(int(budget) + 1200)}
    workers = [
        WorkerProcess(queues, out / f"worker-{queues.replace(',', '-')}.log", media_root=settings.MEDIA_ROOT, env=env)
        for queues in ("interactive", "loop,batch", "train")
    ]
    for worker in workers:
        worker.start(timeout=180)
    return workers


def _png_b64(mask: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return base64.b64encode(buf.tobytes()).decode()


def _image_bytes(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode a frame as PNG")
    return buf.tobytes()


class Annotator:
    """The simulated team member, through the REST API as a browser or script would use it."""

    def __init__(self, client: Any, project_id: int):
        self.client, self.project_id = client, project_id

    def _ok(self, response: Any, *codes: int) -> dict:
        if response.status_code not in codes:
            raise RuntimeError(
                f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}: "
                f"{response.status_code} {response.content[:300]!r}"
            )
        return response.json() if response.content else {}

    def upload(self, name: str, image: np.ndarray) -> int:
        from django.core.files.uploadedfile import SimpleUploadedFile

        files = {"files": SimpleUploadedFile(f"{name}.png", _image_bytes(image), content_type="image/png")}
        body = self._ok(self.client.post(f"/api/v1/projects/{self.project_id}/images/", files, format="multipart"), 201)
        return int(body["created"][0]["id"])

    def click(self, image_id: int, x: float, y: float) -> dict:
        url = f"/api/v1/images/{image_id}/targets/?wait=5"
        return self._ok(self.client.post(url, {"x": float(x), "y": float(y)}, format="json"), 201)

    def shown(self, image_id: int) -> dict:
        """The finished generation: its job (which generator served) and the masks it made."""
        for _ in range(120):
            body = self._ok(self.client.get(f"/api/v1/images/{image_id}/generation/?wait=5"), 200)
            if body["done"]:
                return body
        raise RuntimeError(f"image {image_id}: generation not done after 10 minutes")

    def confirm(self, image_id: int, masks: list[dict], truth: dict[int, np.ndarray]) -> None:
        for mask in masks:
            if mask["target_id"] in truth:
                body = {"version": mask["version"], "png": _png_b64(truth[mask["target_id"]])}
                self._ok(self.client.put(f"/api/v1/targets/{mask['target_id']}/mask/", body, format="json"), 200)
        # The reviewer takes the ground truth as it is, even where a true mask misses its click's pixel.
        body = {"acknowledge": ["point_outside"]}
        self._ok(self.client.post(f"/api/v1/images/{image_id}/confirm/", body, format="json"), 200)


def _decode(rle: dict) -> np.ndarray:
    from pycocotools import mask as coco

    return coco.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def _frame_counts(shown: list[np.ndarray], truth: list[np.ndarray], points: np.ndarray) -> dict[str, int]:
    """The frame's counts as the app records them (ml.metrics.instance_counts): each target's shown mask against
    its true one, so touching targets count one by one and a mask covering two targets counts as merged."""
    from ml.metrics import instance_counts

    return instance_counts(shown, truth, points)


class Clock:
    """Simulated time: `frame_s` per frame; while a training runs, real time must keep up with it."""

    def __init__(self, frame_s: float):
        self.frame_s, self.now, self.anchor = frame_s, 0.0, None

    def next_frame(self, training: bool) -> float:
        self.now += self.frame_s
        if not training:
            self.anchor = None
            return 0.0
        if self.anchor is None:
            self.anchor = (self.now - self.frame_s, time.monotonic())
        sim0, real0 = self.anchor
        wait = (self.now - sim0) - (time.monotonic() - real0)
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)


def _loop_idle(project_id: int, timeout: float = 600.0) -> float:
    """Wait until the loop's quick jobs (scoring, calibration) of the project are done; returns the seconds."""
    from bench import app

    started = time.monotonic()
    while app.loop_busy(project_id):
        if time.monotonic() - started > timeout:
            raise RuntimeError("the loop worker did not finish the frame's scoring in time")
        time.sleep(0.05)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench._stream_data import frame_order, load_frames

    frames = {f.id: f for f in load_frames(args.images, args.masks, args.points)}
    order = frame_order(list(frames), args.order)[: args.limit or None]
    args.out.mkdir(parents=True, exist_ok=True)
    _setup(args.out)
    from celery import current_app
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from bench import app
    from labeling.services.projects import project_create

    user = get_user_model().objects.create_user("annotator", password="x")
    settings = {"retrain": {"time_budget_s": float(args.train_budget)}}
    project = project_create(name=f"stream {args.images}", actor=user, settings=settings)
    client = APIClient()
    client.force_authenticate(user)
    annotator = Annotator(client, project.pk)
    workers = _workers(args.out, args.train_budget)
    clock, next_beat = Clock(args.frame_seconds), BEAT_EVERY_S
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        for n, frame_id in enumerate(order, start=1):
            paced = clock.next_frame(app.training_active(project.pk))
            if clock.now >= next_beat:
                current_app.send_task("labeling.tasks.projects_loop_check")
                next_beat += BEAT_EVERY_S
            rows.append(_one_frame(annotator, frames[frame_id], n, paced, project.pk))
            row = rows[-1]
            print(
                f"[{n}/{len(order)}] {frame_id}: shown IoU {row['iou']:.1f} by {row['generator']} "
                f"({row['targets']} targets, {time.monotonic() - t0:.0f} s)",
                flush=True,
            )
    finally:
        for worker in workers:
            worker.stop()
    return _summary(args, rows, project, user, time.monotonic() - t0)


def _one_frame(annotator: Annotator, frame: Any, n: int, paced: float, project_id: int) -> dict[str, Any]:
    from bench import app

    started = time.monotonic()
    image_id = annotator.upload(frame.id, frame.image)
    for x, y in frame.points:
        annotator.click(image_id, x, y)
    shown = annotator.shown(image_id)
    targets = app.target_ids(image_id)
    by_target = {m["target_id"]: m for m in shown["masks"]}
    shown_masks = [
        _decode(by_target[t]["rle"]) if t in by_target else np.zeros(frame.image.shape, bool) for t in targets
    ]
    counts = _frame_counts(shown_masks, frame.instances, frame.points)
    job = shown.get("job") or {}
    result = job.get("result") or {}
    generator = f"v{result['model_version']}" if result.get("model_version") else "default"
    truth = {t: frame.instances[i] for i, t in enumerate(targets)}
    changed = [m for m in shown["masks"] if not np.array_equal(_decode(m["rle"]), truth.get(m["target_id"]))]
    annotator.confirm(image_id, changed, truth)
    loop_s = _loop_idle(project_id)
    return {
        "frame": n,
        "id": frame.id,
        "image_id": image_id,
        "targets": len(targets),
        "generator": generator,
        "method": result.get("generator", ""),
        "iou": 100.0 * counts["inter"] / counts["union"] if counts["union"] else 100.0,
        "counts": counts,
        "edited": len(changed),
        "frame_s": round(time.monotonic() - started, 2),
        "loop_s": round(loop_s, 2),
        "paced_s": round(paced, 2),
    }


def _summary(args: argparse.Namespace, rows: list[dict[str, Any]], project: Any, user: Any, wall: float) -> dict:
    from bench import app
    from labeling.selectors import project_quality
    from ml.metrics import pooled_figures

    counts = [r["counts"] for r in rows]
    overall = pooled_figures(counts)
    late = pooled_figures(counts[LATE_AFTER:]) if len(counts) > LATE_AFTER else None
    project_id = project.pk
    events = app.loop_events(project_id)
    frame_of = _frame_of_events(project_id)
    promotions = [e for e in events if e["action"] == "loop.promote"]
    versions = app.model_versions(project_id)
    app = project_quality(user=user, project=project)["summary"]  # the app's own record, to cross-check
    result = {
        "bench": "stream",
        "images": str(args.images),
        "frames": len(rows),
        "targets": sum(r["targets"] for r in rows),
        "mean_shown_iou": round(overall["iou"], 2),
        "late_shown_iou": round(late["iou"], 2) if late else None,
        # 95 % bootstrap intervals over frames: what another stream of such frames could have given.
        "mean_shown_iou_ci": _interval(counts),
        "late_shown_iou_ci": _interval(counts[LATE_AFTER:]) if late else None,
        "pd": round(overall["pd"], 2),
        "fat": round(overall["fat"], 2),
        "merged": int(sum(c["n_merged"] for c in counts)),
        "promotions": len(promotions),
        "rollbacks": sum(e["action"] == "loop.rollback" for e in events),
        "first_promotion_frame": frame_of(promotions[0]["at"]) if promotions else None,
        "app_mean_shown_iou": round(app["mean_shown_iou"], 2) if app.get("frames") else None,
        "train_budget_s": args.train_budget,
        "frame_seconds": args.frame_seconds,
        "wall_s": round(wall, 1),
    }
    detail = {
        "result": result,
        "rows": rows,
        "events": [{**e, "at": e["at"].isoformat(), "frame": frame_of(e["at"])} for e in events],
        "versions": {f"v{pk}": v for pk, v in versions.items()},
    }
    _write_report(args, detail)
    return result


def _interval(counts: list[dict[str, int]]) -> list[float]:
    from ml.metrics import iou_interval

    low, high = iou_interval([c["inter"] for c in counts], [c["union"] for c in counts])
    return [round(low, 1), round(high, 1)]


def _frame_of_events(project_id: int):  # noqa: ANN202 - a closure
    import bisect

    from bench import app

    times = app.confirmation_times(project_id)
    return lambda at: bisect.bisect_right(times, at)


def _write_report(args: argparse.Namespace, detail: dict[str, Any]) -> None:
    out = args.out
    (out / "stream.json").write_text(json.dumps(detail, indent=1, default=str))
    _plot(detail, out / "stream.png")
    r, versions = detail["result"], detail["versions"]
    lines = [
        f"# Stream: {args.images}",
        "",
        f"Command: `python bench/stream.py --images {args.images} --masks {args.masks}"
        + (f" --points {args.points}" if args.points else "")
        + f" --out {args.out} --order {args.order} --train-budget {args.train_budget:g}"
        + f" --frame-seconds {args.frame_seconds:g}"
        + (f" --limit {args.limit}" if args.limit else "")
        + "`",
        "",
        f"{r['frames']} frames, {r['targets']} targets, {r['wall_s']:.0f} s wall on this machine.",
        "",
        "| mean shown IoU [95 %] | shown IoU after frame 20 [95 %] | Pd | Fat | merged | promotions "
        "| first promotion at frame |",
        "|---|---|---|---|---|---|---|",
        f"| {r['mean_shown_iou']} {r['mean_shown_iou_ci']} | {r['late_shown_iou']} {r['late_shown_iou_ci']} "
        f"| {r['pd']} | {r['fat']} | {r['merged']} | "
        f"{r['promotions']} (rollbacks {r['rollbacks']}) | {r['first_promotion_frame']} |",
        "",
        "![shown IoU per frame](stream.png)",
        "",
        "## What the loop did",
        "",
        "| frame | action | version | what |",
        "|---|---|---|---|",
    ]
    for e in detail["events"]:
        v = versions.get(f"v{e['object']}", {}) if e["object"] else {}
        name = f"v{v['number']} {v['arch']}" if v else ""
        lines.append(f"| {e['frame']} | {e['action']} | {name} | {_what(e)} |")
    lines += ["", "## Who served when", "", "| frames | generator | shown IoU (pooled) |", "|---|---|---|"]
    for start, end, key in _spans(detail["rows"]):
        from ml.metrics import pooled_figures

        pooled = pooled_figures([row["counts"] for row in detail["rows"][start - 1 : end]])["iou"]
        v = versions.get(key, {})
        label = f"{key} {v.get('arch', '')} {v.get('params', '')}" if v else "project default (cold start α 0.35)"
        lines.append(f"| {start}-{end} | {label} | {pooled:.1f} |")
    lines += ["", "Raw JSON line:", "", "```", json.dumps(r), "```", ""]
    (out / "stream.md").write_text("\n".join(lines))


def _what(event: dict[str, Any]) -> str:
    data = event["data"]
    if event["action"] == "loop.calibrate":
        figures = data.get("figures", {})
        return (
            f"α {data['alpha']:.2f}, GrabCut {'on' if data['use_grabcut'] else 'off'}, size rule "
            f"{'on' if data['size_rule'] else 'off'} on {data['n_images']} frames (IoU there "
            f"{figures.get('default', {}).get('iou', 0):.1f} -> {figures.get('calibrated', {}).get('iou', 0):.1f})"
        )
    if event["action"] == "loop.train":
        return f"{data.get('n_frames')} frames, {data.get('steps')} steps, prior {data.get('prior')}"
    if event["action"] == "loop.candidate":
        return f"in shadow: {data.get('params') or data.get('checkpoint', '')}"
    return str(data.get("reason", ""))


def _spans(rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for row in rows:
        if spans and spans[-1][2] == row["generator"]:
            spans[-1] = (spans[-1][0], row["frame"], row["generator"])
        else:
            spans.append((row["frame"], row["frame"], row["generator"]))
    return spans


def _plot(detail: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, versions = detail["rows"], detail["versions"]
    keys = list(dict.fromkeys(r["generator"] for r in rows))
    colours = {k: plt.cm.tab10(i % 10) for i, k in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(10, 4))
    for key in keys:
        pts = [(r["frame"], r["iou"]) for r in rows if r["generator"] == key]
        v = versions.get(key)
        label = f"{key}: {v['arch']} {v['params']}" if v else "default: cold start α 0.35"
        ax.scatter(*zip(*pts, strict=True), s=14, color=colours[key], label=label[:70])
    trend = [np.mean([q["iou"] for q in rows[max(0, i - 9) : i + 1]]) for i in range(len(rows))]
    ax.plot([r["frame"] for r in rows], trend, color="black", lw=1.2, label="mean of the last 10 frames")
    for e in detail["events"]:
        if e["action"] in ("loop.promote", "loop.rollback"):
            ax.axvline(e["frame"] + 0.5, color="green" if e["action"] == "loop.promote" else "red", ls="--", lw=1)
    ax.axvline(LATE_AFTER + 0.5, color="grey", ls=":", lw=1)
    r = detail["result"]
    ax.set(
        xlabel="frames confirmed",
        ylabel="shown IoU (%)",
        ylim=(0, 100),
        title=f"mean shown IoU {r['mean_shown_iou']}, after frame 20: {r['late_shown_iou']} "
        f"({r['promotions']} promotions)",
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, required=True)
    ap.add_argument("--masks", type=Path, required=True)
    ap.add_argument("--points", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--order", choices=("hash", "name"), default="hash")
    ap.add_argument("--train-budget", type=float, default=300.0, help="seconds per fine-tune (the project setting)")
    ap.add_argument("--frame-seconds", type=float, default=30.0, help="the annotator's time per frame")
    ap.add_argument("--limit", type=int, default=0, help="stream only the first N frames of the order")
    args = ap.parse_args()
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
