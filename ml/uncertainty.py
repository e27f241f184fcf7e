"""How unsure the generators are about a frame nobody has confirmed: the key of the active claim order.

A confirmed frame teaches the learning loop most where the serving generator is least sure of it, so an active
claim order hands those out first. Four signs, each in [0, 1], from one pass of two generators (the serving one
and the other kind: cold start against EDGSP) on the frame's points (its own targets, else a detector's
candidates):

- disagreement: 1 - IoU of the two generators' masks, per point, averaged. When the training-free rule and the
  learned net draw a target differently, at least one of them is wrong there.
- warnings: share of points whose mask fell back to the cold start or was split out of a shared blob (adhesion).
- unprompted: components of the net's thresholded map whose box holds no point (BBM drops them: a target the
  points missed, or clutter the net half believes), as n / (n + points).
- margin: share of the pixels in and around the masks whose probability lies within `band` of the threshold
  (a mask whose edge the net could draw a pixel wider or narrower).

The score is their weighted mean (WEIGHTS, fixed a priori rather than tuned on any split: each sign counts, the
disagreement most, as the only one that needs no net).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

WEIGHTS = {"disagreement": 0.4, "warnings": 0.2, "unprompted": 0.2, "margin": 0.2}
BAND = 0.2  # probability within threshold +- BAND counts as a low margin
RING = 2  # px around the masks where the margin is read


@dataclass(frozen=True)
class Uncertainty:
    score: float  # 0 (both generators agree, the net is sure) .. 1
    parts: dict[str, float] = field(default_factory=dict)
    n_points: int = 0


def frame_uncertainty(
    masks: list[np.ndarray],
    other_masks: list[np.ndarray],
    flags: list[bool],
    points: np.ndarray,
    prob: np.ndarray | None = None,
    threshold: float = 0.5,
) -> Uncertainty:
    """Score one frame from the serving generator's `masks` and the other generator's `other_masks` (one per
    point, same order), the per-point warning `flags` (fallback or adhesion of either) and, when one of them is a
    net, its probability map `prob` and `threshold`. A frame without points scores 0: nothing to learn about
    masks there (its targets are found by the detector's suggestions first)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(points)
    if len(masks) != n or len(other_masks) != n or len(flags) != n:
        raise ValueError(f"{n} points but {len(masks)} masks, {len(other_masks)} other masks, {len(flags)} flags")
    if n == 0:
        return Uncertainty(0.0, {}, 0)
    parts = {
        "disagreement": float(np.mean([1.0 - _iou(a, b) for a, b in zip(masks, other_masks, strict=True)])),
        "warnings": float(np.mean(np.asarray(flags, dtype=bool))),
    }
    if prob is not None:
        parts["unprompted"] = unprompted_share(prob > threshold, points)
        parts["margin"] = low_margin_share(prob, masks, threshold)
    weight = sum(WEIGHTS[k] for k in parts)
    score = sum(WEIGHTS[k] * v for k, v in parts.items()) / weight
    return Uncertainty(round(float(score), 4), {k: round(v, 4) for k, v in parts.items()}, n)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def unprompted_share(binary: np.ndarray, points: np.ndarray) -> float:
    """n / (n + points), n: 8-connected components of `binary` whose bounding box holds none of the points."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    xs, ys = np.floor(points[:, 0] + 0.5), np.floor(points[:, 1] + 0.5)
    n = 0
    for k in range(1, count):
        x, y, w, h = stats[k, :4]
        if not np.any((xs >= x) & (xs < x + w) & (ys >= y) & (ys < y + h)):
            n += 1
    return n / (n + len(points))


def low_margin_share(prob: np.ndarray, masks: list[np.ndarray], threshold: float, band: float = BAND) -> float:
    """Share of the pixels of the masks and a RING-px ring around them whose probability is near the threshold."""
    union = np.zeros(prob.shape, dtype=np.uint8)
    for m in masks:
        union |= m.astype(np.uint8)
    if not union.any():
        return 1.0  # every mask empty: the net is not sure of anything here
    kernel = np.ones((2 * RING + 1, 2 * RING + 1), np.uint8)
    region = cv2.dilate(union, kernel).astype(bool)
    return float(np.mean(np.abs(prob[region] - threshold) < band))
