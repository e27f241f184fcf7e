"""Sequences: how many of the points carried to the next frame an annotator keeps unchanged, the clicks saved, and
how much the previous frame's masks help the next frame's.

Synthetic moving targets on real backgrounds: each sequence is one SIRST frame (8-bit, its own targets left in:
static clutter a carried point may snap to) with 3-8 Gaussian targets (sigma 0.7-1.6 px, peak 4-15 times the
frame's noise above the local background) moving in straight lines at 0.3-2.0 px per frame plus 0.2 px jitter,
for `--frames` frames. The annotator clicks every target on the first frame; on each next frame the app carries
the previous frame's final points (`labeling.ml_adapter.carry_points`, as `POST images/{id}/suggestions/carry/`
does) and the annotator keeps a carried point unchanged when it lies within `--tolerance` px of the target's
true centre, else moves it. A kept point costs one key instead of an aimed click: the clicks saved. "Not moved"
is the reference: the previous frame's points offered where they were.

Masks: each sequence has its team's idea of where a target ends (a pixel belongs to a target where the target adds
at least `convention` of its peak, drawn per sequence from 0.05-0.6: wide halo-style to tight core masks) and the
annotator confirms those masks on every frame. On each later frame the cold start (shipped defaults) makes the
carried points' masks with the project's alpha, and with the alpha fitted to the previous frame's confirmed masks
moved with their points (`ml.tracking.fit_tightness`, as an accepted carried suggestion's tightness): pooled IoU
and Pd of each against the frame's true masks.

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
from ml.coldstart import point_prompt_masks  # noqa: E402
from ml.data import read_image  # noqa: E402
from ml.detection import noise_level  # noqa: E402
from ml.metrics import frame_counts, pooled_figures  # noqa: E402
from ml.tracking import fit_tightness, shift_mask  # noqa: E402

CONVENTIONS = (0.05, 0.6)  # the share of a target's peak its team's masks end at, per sequence

REPORT = ROOT / "bench" / "reports" / "sequence.md"
DATA = ROOT.parent / "shared" / "data" / "sirst"


def make_sequence(
    background: np.ndarray, n_frames: int, rng: np.random.Generator, convention: float = 0.3
) -> tuple[list, np.ndarray, list]:
    """Frames (float32), true centres (n_frames, n_targets, 2) (x, y) of targets moving over `background`, and each
    frame's true instance masks (the pixels where a target adds at least `convention` of its peak)."""
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
    frames, centres, masks = [], [], []
    for k in range(n_frames):
        at = start + k * velocity + rng.normal(0, 0.2, (n, 2))
        at[:, 0], at[:, 1] = np.clip(at[:, 0], 2, w - 3), np.clip(at[:, 1], 2, h - 3)
        frame = background.astype(np.float32).copy()
        instances = []
        for (cx, cy), s, a in zip(at, sigma, amplitude, strict=True):
            bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
            frame += a * bump
            instance = bump >= convention
            instance[int(np.floor(cy + 0.5)), int(np.floor(cx + 0.5))] = True  # never empty
            instances.append(instance)
        frames.append(frame)
        centres.append(at)
        masks.append(instances)
    return frames, np.array(centres), masks


def replay(frames: list, centres: np.ndarray, tolerance: float, masks: list | None = None) -> dict[str, Any]:
    """Carried vs not moved: per later frame, how many points the annotator keeps unchanged; with `masks`, each
    later frame's cold-start masks at the project's alpha and at the alpha fitted to the previous masks."""
    n_targets = centres.shape[1]
    out = {"offered": 0, "kept": 0, "kept_unmoved": 0, "errors": [], "carry_s": 0.0, "fit_s": 0.0}
    out |= {"plain": [], "hinted": []}
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
        if masks is not None:
            truth = np.any(masks[k], axis=0)
            hints = [shift_mask(m, *(p - c)) for m, p, c in zip(masks[k - 1], carried.points, previous, strict=True)]
            started = time.perf_counter()
            alphas = fit_tightness(frames[k], carried.points, hints)
            out["fit_s"] += time.perf_counter() - started
            plain = point_prompt_masks(frames[k], carried.points).union()
            hinted = point_prompt_masks(frames[k], carried.points, alphas=alphas).union()
            out["plain"].append(frame_counts(plain, truth))
            out["hinted"].append(frame_counts(hinted, truth))
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
    totals |= {"fit_s": 0.0, "plain": [], "hinted": [], "per_sequence": []}
    for i in chosen:
        background = read_image(next((Path(args.data) / "images").glob(f"{ids[i]}.*")))
        if background.ndim == 3:
            background = background.mean(axis=2)
        # The team's convention from its own generator: the sequences' targets and motion stay as they were.
        convention = float(np.random.default_rng([args.seed, int(i)]).uniform(*CONVENTIONS))
        frames, centres, masks = make_sequence(background, args.frames, rng, convention)
        result = replay(frames, centres, args.tolerance, masks)
        for key in ("offered", "kept", "kept_unmoved", "carry_s", "fit_s"):
            totals[key] += result[key]
        for key in ("errors", "plain", "hinted"):
            totals[key] += result[key]
        totals["per_sequence"].append(
            (convention, pooled_figures(result["plain"])["iou"], pooled_figures(result["hinted"])["iou"])
        )
        totals["frames"] += len(frames) - 1
        totals["targets"] += centres.shape[1]
    errors = np.array(totals["errors"])
    plain, hinted = pooled_figures(totals["plain"]), pooled_figures(totals["hinted"])
    gains = [h - p for _, p, h in totals["per_sequence"]]
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
        "mask_iou_project_alpha": round(plain["iou"], 2),
        "mask_iou_previous_mask_hint": round(hinted["iou"], 2),
        "mask_pd_project_alpha": round(plain["pd"], 2),
        "mask_pd_previous_mask_hint": round(hinted["pd"], 2),
        "sequences_hint_better": sum(g > 0 for g in gains),
        "hint_gain_ci95": _bootstrap(gains, args.seed),
        "fit_ms_per_frame": round(1000 * totals["fit_s"] / totals["frames"], 1),
        "per_sequence": [[round(c, 3), round(p, 2), round(h, 2)] for c, p, h in totals["per_sequence"]],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    _write_report(summary, Path(args.report), args)


def _bootstrap(gains: list[float], seed: int, n: int = 2000) -> list[float]:
    """A 95 % bootstrap interval (over sequences) of the mean per-sequence IoU gain."""
    values = np.asarray(gains, dtype=np.float64)
    if len(values) < 2:
        return [float("nan"), float("nan")]
    draws = np.random.default_rng(seed).integers(0, len(values), (n, len(values)))
    means = values[draws].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 2), round(float(np.percentile(means, 97.5)), 2)]


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
        "## The previous frame's masks as a hint",
        "",
        "Each sequence's team ends its masks where a target adds a share of its peak drawn from "
        f"{CONVENTIONS[0]}-{CONVENTIONS[1]} (wide halo-style to tight cores); the cold start makes a later frame's "
        "masks at the carried points:",
        "",
        "| cold-start alpha | mask IoU | Pd |",
        "|---|---|---|",
        f"| the project's (0.35) | {s['mask_iou_project_alpha']:.2f} | {s['mask_pd_project_alpha']:.2f} |",
        f"| fitted per target to the previous frame's mask (`fit_tightness`) | {s['mask_iou_previous_mask_hint']:.2f} "
        f"| {s['mask_pd_previous_mask_hint']:.2f} |",
        "",
        "Both pooled IoUs are low: on these dim targets (4-15 noise levels over SIRST clutter) the cold start leaks "
        "into the clutter on some frames (masks of hundreds of pixels around a 5-40 px target), and those frames "
        "weigh most in a pooled IoU; the fitted alpha stops part of the leaks, which is most of its pooled gain. "
        "The per-sequence table shows the rest: the mask follows the team's own idea of the target's edge.",
        "",
        f"The hint is better on {s['sequences_hint_better']} of {s['sequences']} sequences; mean gain per sequence "
        f"{np.mean([h - p for _, p, h in s['per_sequence']]):+.2f} IoU, 95 % bootstrap interval "
        f"[{s['hint_gain_ci95'][0]:+.2f}, {s['hint_gain_ci95'][1]:+.2f}]. Fitting takes {s['fit_ms_per_frame']:.1f} ms "
        "a frame.",
        "",
        "| convention (share of the peak) | IoU at the project's alpha | IoU with the hint |",
        "|---|---|---|",
        *[f"| {c:.3f} | {p:.2f} | {h:.2f} |" for c, p, h in sorted(s["per_sequence"])],
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
