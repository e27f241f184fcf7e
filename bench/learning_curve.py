"""Simulate a team on SIRST train: confirm 20 images at a time, run the real retraining + gate, score what serves.

Each batch of 20 train images is confirmed with its ground-truth masks as the "human" edits (one target per
8-connected component, clicked at its centroid), then the app's own training run (labeling.services.training:
frozen validation split, fine-tune from the serving model, atomic checkpoint, promotion gate) runs in this
process on a throw-away PostgreSQL database, exactly as a `train` worker would run it. After every batch the
model in service (cold start until a promotion) is scored on SIRST val with centroid points. An offline model
trained on all train images with the same recipe and budget is the reference.

    python bench/learning_curve.py --quick          # ~15 min on 2 CPU cores: 45 s per training run
    python bench/learning_curve.py --budget 600     # the product default (10 min per run on CPU)
    python bench/learning_curve.py --init half      # base weights that never saw the team's frames (see below)

Arms: `scratch` (no base weights: the cold start serves, the first training starts from a new net); `shipped`
(the committed weights, which were trained on all of SIRST train: the leak guard leaves every frame out of
validation, so this arm can never promote); `half` (base weights trained on one half of SIRST train, installed
with EDGSP_WEIGHTS as a site would install its own; the team then confirms the other half, frames its base never
saw, and the offline reference fine-tunes the same base on the same half).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_loop")

REPORT = ROOT / "bench" / "reports" / "learning_loop.md"
DATA = ROOT.parent / "shared" / "data" / "sirst"
BASE_DIR = ROOT / "runs" / "learning_curve"


def _setup_django() -> None:
    import django

    django.setup()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)


def base_half(base_ids: list[str], budget: float) -> Path:
    """Base weights that never saw the team's frames: the shipped recipe trained on the other half of SIRST train
    (`python -m ml train` + `python -m ml.release`, so they list the frames they saw), cached under runs/."""
    import subprocess

    out = BASE_DIR / "base_half.pt"
    if out.is_file():
        return out
    data = BASE_DIR / "sirst_base_half"
    (data / "splits").mkdir(parents=True, exist_ok=True)
    for sub in ("images", "masks"):
        if not (data / sub).exists():
            (data / sub).symlink_to(DATA / sub)
    (data / "splits" / "train.txt").write_text("\n".join(base_ids) + "\n")
    (data / "splits" / "val.txt").write_text((DATA / "splits" / "val.txt").read_text())
    raw = BASE_DIR / "base_half_raw.pt"
    train = [
        sys.executable, "-m", "ml", "train", "--data", str(data), "--out", str(raw), "--size", "small",
        "--crop-mode", "target", "--crop-size", "112", "--batch-size", "16", "--time-budget", str(budget),
        "--max-steps", "400000", "--eval-every", "250", "--coarse-prob", "0.5", "--threads", "1",
    ]  # fmt: skip
    print(f"[base-half] training on {len(base_ids)} frames for {budget:.0f} s: {' '.join(train)}", flush=True)
    subprocess.run(train, check=True, cwd=ROOT)
    release = [sys.executable, "-m", "ml.release", "--checkpoint", str(raw), "--data", str(data), "--out", str(out)]
    subprocess.run(release, check=True, cwd=ROOT)
    return out


def _read(path: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _ids(split: str) -> list[str]:
    return (DATA / "splits" / f"{split}.txt").read_text().split()


def _val_samples(ids: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    from ml.points import centroid_points

    out = []
    for image_id in ids:
        mask = _read(DATA / "masks" / f"{image_id}.png") > 0
        out.append((_read(DATA / "images" / f"{image_id}.png"), centroid_points(mask), mask))
    return out


def _confirm(project, user, image_id: str) -> None:  # noqa: ANN001 - Django models
    """Upload one frame and label it as a human would: a point and a confirmed mask per target."""
    from labeling import storage
    from labeling.choices import ImageStatus, MaskSource, MaskState
    from labeling.models import Image, Mask, Target
    from labeling.services.images import image_create
    from ml.points import label_components

    data = (DATA / "images" / f"{image_id}.png").read_bytes()
    image = image_create(project=project, file_name=f"{image_id}.png", data=data, actor=user)
    gt = _read(DATA / "masks" / f"{image_id}.png") > 0
    n, labels, _, cents = label_components(gt)
    for k in range(n):
        x, y = np.floor(cents[k])
        target = Target.objects.create(image=image, x=float(x), y=float(y), created_by=user)
        rle, area, bbox = storage.mask_encode(labels == k + 1)
        Mask.objects.create(
            target=target, image=image, rle=rle, area=area, bbox=bbox, source=MaskSource.HUMAN,
            state=MaskState.CONFIRMED, confirmed_by=user,
        )  # fmt: skip
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.CONFIRMED)


def _score(spec, val) -> dict[str, float]:  # noqa: ANN001
    from labeling import ml_adapter

    return {k: round(v, 2) for k, v in ml_adapter.score(spec, val).items() if k in ("iou", "pd", "fat", "fa")}


def run_arm(  # noqa: ANN001 - val: (image, points, mask) triples
    name: str, budget: float, batch: int, train_ids: list[str], val, overrides: dict | None = None
) -> dict:
    """One simulated team: returns the per-batch rows."""
    from django.contrib.auth import get_user_model

    from labeling import ml_adapter
    from labeling.choices import JobKind
    from labeling.models import ModelVersion
    from labeling.services.generation import generator_spec, serving_model
    from labeling.services.jobs import job_create
    from labeling.services.projects import project_create
    from labeling.services.training import model_train

    user = get_user_model().objects.create(username=f"team-{name}-{time.time_ns()}")
    retrain = {"time_budget_s": budget, "min_interval_minutes": 0, "prelabel_on_promote": False, "seed": 0}
    if overrides:
        retrain["train_overrides"] = overrides
    project = project_create(name=f"sirst {name}", actor=user, settings={"retrain": retrain})
    if name in ("shipped", "half"):
        shipped = ml_adapter.shipped_weights()
        if shipped is None:
            raise SystemExit("no shipped weights in ml/weights/: run --init scratch")
    original = ml_adapter.shipped_weights
    if name == "scratch":  # the cold start alone serves first and the first training starts from a new net
        ml_adapter.shipped_weights = lambda: None
    rows: list[dict] = []
    serving_id, on_val = None, _score(generator_spec(project), val)
    rows.append({"confirmed": 0, "serving": "coldstart", "val": on_val})
    print(f"[{name}] 0 confirmed: cold start on val {on_val}", flush=True)
    for start in range(0, len(train_ids), batch):
        for image_id in train_ids[start : start + batch]:
            _confirm(project, user, image_id)
        confirmed = min(start + batch, len(train_ids))
        job = job_create(project=project, kind=JobKind.TRAIN, actor=None, payload={"reason": "bench"})
        t0 = time.monotonic()
        model_train(job_id=job.pk)
        seconds = time.monotonic() - t0
        job.refresh_from_db()
        version = ModelVersion.objects.get(pk=job.payload["model_version_id"])
        now = serving_model(project)
        if getattr(now, "pk", None) != serving_id:
            serving_id, on_val = now.pk, _score(generator_spec(project), val)
        gate = version.gate
        # What the gate could not see: the candidate on SIRST val, promoted or not (was a rejection a missed gain?).
        candidate_val = None
        if version.checkpoint:
            from django.core.files.storage import default_storage

            path = default_storage.path(version.checkpoint)
            candidate_val = _score(ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=path), val)
        row = {
            "confirmed": confirmed,
            "version": version.number,
            "status": version.status,
            "steps": version.metrics.get("steps"),
            "n_val_frozen": gate.get("n_val"),
            "gate_candidate_iou": round(gate.get("candidate", {}).get("iou", float("nan")), 2),
            "gate_serving_iou": round(gate.get("serving", {}).get("iou", float("nan")), 2),
            "gate_iou_gain_lower": round(gate.get("iou_gain", {}).get("lower", float("nan")), 2),
            "candidate_val": candidate_val,
            "reason": gate.get("reason", job.message),
            "serving": f"v{now.number}" if now else "coldstart",
            "val": on_val,
            "train_s": round(seconds, 1),
        }
        rows.append(row)
        print(f"[{name}] {json.dumps(row)}", flush=True)
    ml_adapter.shipped_weights = original
    return {"arm": name, "rows": rows}


def offline_reference(
    budget: float, train_ids: list[str], val, init: str | None, overrides: dict | None = None
) -> dict:  # noqa: ANN001 - val: (image, points, mask) triples
    """One model trained offline on all the train images with the same recipe and budget."""
    import tempfile

    from labeling import ml_adapter

    samples = []
    for image_id in train_ids:
        samples.append(
            (image_id, _read(DATA / "images" / f"{image_id}.png"), _read(DATA / "masks" / f"{image_id}.png") > 0)
        )
    out = Path(tempfile.mkdtemp()) / "offline.pt"
    shipped = ml_adapter.shipped_weights() if init in ("shipped", "half") else None
    from django.conf import settings

    result = ml_adapter.train(
        samples, init_checkpoint=str(shipped) if shipped else None, out_path=str(out), time_budget_s=budget,
        seed=0, device=settings.EDGSP_DEVICE, threads=settings.EDGSP_TORCH_THREADS, overrides=overrides,
    )  # fmt: skip
    spec = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=result["checkpoint"])
    return {"steps": result["steps"], "val": _score(spec, val)}


def plot(arms: list[dict], offline: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm in arms:
        xs = [r["confirmed"] for r in arm["rows"]]
        ax.step(xs, [r["val"]["iou"] for r in arm["rows"]], where="post", marker="o", label=f"serving ({arm['arm']})")
    if offline:
        ax.axhline(offline["val"]["iou"], color="grey", linestyle="--", label="offline, all train images")
    ax.set(xlabel="confirmed images", ylabel="IoU on SIRST val (%)", title="Learning loop: the model in service")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def check(arms: list[dict], offline: dict | None) -> list[str]:
    """The quality goal: IoU on val never drops at a promotion; the end is within 1 point of offline."""
    lines = []
    for arm in arms:
        rows = arm["rows"]
        drops = [
            (a["confirmed"], b["confirmed"], a["val"]["iou"], b["val"]["iou"])
            for a, b in zip(rows, rows[1:], strict=False)
            if b["serving"] != a["serving"] and b["val"]["iou"] < a["val"]["iou"]
        ]
        promotions = sum(1 for a, b in zip(rows, rows[1:], strict=False) if b["serving"] != a["serving"])
        lines.append(f"- {arm['arm']}: {promotions} promotions, {len(drops)} with a lower val IoU {drops or ''}")
        if offline:
            gap = offline["val"]["iou"] - rows[-1]["val"]["iou"]
            verdict = "within" if gap <= 1.0 else "NOT within"
            lines.append(f"- {arm['arm']}: final val IoU {rows[-1]['val']['iou']} vs offline {offline['val']['iou']}: "
                         f"gap {gap:.2f} points ({verdict} 1 point)")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="45 s per training run, scratch arm only (~15 min)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per training run (default 600; quick 45)")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--init", choices=["shipped", "scratch", "both", "half"], default=None)
    parser.add_argument("--base-budget", type=float, default=2700.0, help="seconds of base training (--init half)")
    parser.add_argument("--report", default="learning_loop", help="report name under bench/reports/")
    parser.add_argument("--no-offline", action="store_true")
    parser.add_argument("--crop", type=int, default=None, help="training crop size (quick: 64)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size (quick: 8)")
    parser.add_argument("--max-images", type=int, default=None, help="confirm only this many train images (smoke)")
    args = parser.parse_args()
    budget = args.budget or (45.0 if args.quick else 600.0)
    _setup_django()
    from labeling import ml_adapter

    init = args.init or ("both" if ml_adapter.shipped_weights() else "scratch")
    if args.quick and args.init is None:
        init = "shipped" if ml_adapter.shipped_weights() else "scratch"
    overrides = {}
    if args.quick or args.crop:
        overrides["crop_size"] = args.crop or 64
    if args.quick or args.batch_size:
        overrides["batch_size"] = args.batch_size or 8
    rng = np.random.default_rng(0)
    train_ids = [str(i) for i in rng.permutation(_ids("train"))]
    if init == "half":  # the team labels the first half; the base was trained on the second
        half = len(train_ids) // 2
        from django.conf import settings

        settings.EDGSP_WEIGHTS = str(base_half(train_ids[half:], args.base_budget))
        train_ids = train_ids[:half]
    train_ids = train_ids[: args.max_images]
    val = _val_samples(_ids("val"))
    started = time.monotonic()
    arms = [
        run_arm(a, budget, args.batch, train_ids, val, overrides)
        for a in (["shipped", "scratch"] if init == "both" else [init])
    ]
    offline = None if args.no_offline else offline_reference(budget, train_ids, val, arms[0]["arm"], overrides)
    report = REPORT.with_name(f"{args.report}.json")
    png = report.with_suffix(".png")
    plot(arms, offline, png)
    verdict = check(arms, offline)
    print("\n".join(verdict))
    result = {
        "budget_s": budget,
        "batch": args.batch,
        "overrides": overrides,
        "arms": arms,
        "offline": offline,
        "wall_s": round(time.monotonic() - started),
        "base_weights": str(ml_adapter.shipped_weights()) if init in ("shipped", "half") else None,
        "verdict": verdict,
    }
    report.write_text(json.dumps(result, indent=1))
    print(json.dumps({"report": str(report), "verdict": verdict, "wall_s": result["wall_s"]}))


if __name__ == "__main__":
    main()
