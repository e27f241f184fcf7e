"""Sequences: how many of the points carried to the next frame an annotator keeps unchanged, and the clicks saved.

Synthetic moving targets on real backgrounds: each sequence is one SIRST frame (8-bit, its own targets left in:
static clutter a carried point may snap to) with 3-8 Gaussian targets (sigma 0.7-1.6 px, peak 4-15 times the
frame's noise above the local background) moving in straight lines at 0.3-2.0 px per frame plus 0.2 px jitter,
for `--frames` frames. The annotator clicks every target on the first frame; on each next frame the app carries
the previous frame's final points (`labeling.ml_adapter.carry_points`, as `POST images/{id}/suggestions/carry/`
does) and the annotator keeps a carried point unchanged when it lies within `--tolerance` px of the target's
true centre, else moves it. A kept point costs one key instead of an aimed click: the clicks saved. "Not moved"
is the reference: the previous frame's points offered where they were.

    python bench/sequence.py [--sequences 20 --frames 20 --tolerance 1.0 --split train]
        [--report bench/reports/sequence.md]

Prints one JSON line; writes the report. Backgrounds come from SIRST `--split` (train: nothing is chosen on val).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeling.ml_adapter import carry_points  # noqa: E402 - after the path tweak
from ml.data import read_image  # noqa: E402
from ml.detection import noise_level  # noqa: E402

REPORT = ROOT / "bench" / "reports" / "sequence.md"
DATA = ROOT.parent / "shared" / "data" / "sirst"


def make_sequence(background: np.ndarray, n_frames: int, rng: np.random.Generator) -> tuple[list, np.ndarray]:
    """Frames (float32) and true centres (n_frames, n_targets, 2) (x, y) of targets moving over `background`."""
    h, w = background.shape
    n = int(rng.integers(3, 9))
    speed = rng.uniform(0.3, 2.0, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    velocity = np.stack([speed * np.cos(angle), speed * np.sin(angle)], axis=1)
    margin = 8 + 2.0 * n_frames
    start = np.stack([rng.uniform(margin, w - margin, n), rng.uniform(margin, h - margin, n)], axis=1)
    if w <= 2 * margin or h <= 2 * margin:  # a small frame: slower targets from the middle
        start = np.tile([w / 2.0, h / 2.0], (n, 1)) + rng.normal(0, 3, (n, 2))
        velocity *= 0.3
    sigma = rng.uniform(0.7, 1.6, n)
    amplitude = rng.uniform(4, 15, n) * noise_level(background)
    yy, xx = np.mgrid[0:h, 0:w]
    frames, centres = [], []
    for k in range(n_frames):
        at = start + k * velocity + rng.normal(0, 0.2, (n, 2))
        at[:, 0], at[:, 1] = np.clip(at[:, 0], 2, w - 3), np.clip(at[:, 1], 2, h - 3)
        frame = background.astype(np.float32).copy()
        for (cx, cy), s, a in zip(at, sigma, amplitude, strict=True):
            frame += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        frames.append(frame)
        centres.append(at)
    return frames, np.array(centres)


def replay(frames: list, centres: np.ndarray, tolerance: float) -> dict[str, Any]:
    """Carried vs not moved: per later frame, how many points the annotator keeps unchanged."""
    n_targets = centres.shape[1]
    out = {"offered": 0, "kept": 0, "kept_unmoved": 0, "errors": [], "carry_s": 0.0}
    for k in range(1, len(frames)):
        previous = centres[k - 1]  # the annotator's final points of the frame before: on the targets
        started = time.perf_counter()
        carried = carry_points(frames[k], previous)
        out["carry_s"] += time.perf_counter() - started
        error = np.linalg.norm(carried.points - centres[k], axis=1)
        unmoved = np.linalg.norm(previous - centres[k], axis=1)
        out["offered"] += n_targets
        out["kept"] += int((error <= tolerance).sum())
        out["kept_unmoved"] += int((unmoved <= tolerance).sum())
        out["errors"] += error.tolist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=20)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--tolerance", type=float, default=1.0, help="px from the true centre a kept point may be")
    ap.add_argument("--split", default="train", choices=["train", "val"])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", default=str(REPORT))
    args = ap.parse_args()
    ids = (Path(args.data) / "splits" / f"{args.split}.txt").read_text().split()
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(ids), size=min(args.sequences, len(ids)), replace=False)
    started = time.perf_counter()
    totals = {"offered": 0, "kept": 0, "kept_unmoved": 0, "errors": [], "carry_s": 0.0, "frames": 0, "targets": 0}
    for i in chosen:
        background = read_image(next((Path(args.data) / "images").glob(f"{ids[i]}.*")))
        if background.ndim == 3:
            background = background.mean(axis=2)
        frames, centres = make_sequence(background, args.frames, rng)
        result = replay(frames, centres, args.tolerance)
        for key in ("offered", "kept", "kept_unmoved", "carry_s"):
            totals[key] += result[key]
        totals["errors"] += result["errors"]
        totals["frames"] += len(frames) - 1
        totals["targets"] += centres.shape[1]
    errors = np.array(totals["errors"])
    summary = {
        "bench": "sequence",
        "sequences": len(chosen),
        "frames_per_sequence": args.frames,
        "targets": totals["targets"],
        "later_frames": totals["frames"],
        "tolerance_px": args.tolerance,
        "kept_share": round(100 * totals["kept"] / totals["offered"], 2),
        "kept_share_unmoved": round(100 * totals["kept_unmoved"] / totals["offered"], 2),
        "clicks_saved_per_frame": round(totals["kept"] / totals["frames"], 2),
        "clicks_per_frame": round(totals["offered"] / totals["frames"], 2),
        "median_error_px": round(float(np.median(errors)), 3),
        "p95_error_px": round(float(np.percentile(errors, 95)), 3),
        "carry_ms_per_frame": round(1000 * totals["carry_s"] / totals["frames"], 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    _write_report(summary, Path(args.report), args)


def _write_report(s: dict[str, Any], path: Path, args: argparse.Namespace) -> None:
    cmd = (
        f"python bench/sequence.py --sequences {args.sequences} --frames {args.frames} "
        f"--tolerance {args.tolerance} --split {args.split}"
    )
    lines = [
        "# Sequences: carried points",
        "",
        f"Command: `{cmd}` ({s['wall_s']:.0f} s on this machine).",
        "",
        f"{s['sequences']} sequences of {s['frames_per_sequence']} frames on SIRST {args.split} backgrounds, "
        f"{s['targets']} moving targets; {s['later_frames']} later frames scored.",
        "",
        "| points offered on a later frame | kept unchanged (within "
        f"{s['tolerance_px']} px) | clicks saved per frame (of) | median / p95 error px |",
        "|---|---|---|---|",
        f"| carried (moved onto the peak) | {s['kept_share']:.2f} % | {s['clicks_saved_per_frame']:.2f} "
        f"({s['clicks_per_frame']:.2f}) | {s['median_error_px']:.2f} / {s['p95_error_px']:.2f} |",
        f"| not moved (reference) | {s['kept_share_unmoved']:.2f} % | — | — |",
        "",
        f"Carrying takes {s['carry_ms_per_frame']:.1f} ms a frame on one core.",
        "",
        "Raw JSON line:",
        "",
        "```",
        json.dumps(s),
        "```",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
