"""Carrying a sequence's points to its next frame: each previous point moves to the local contrast peak near it.

Small IR targets move a few pixels between frames and keep their look, so the previous frame's points are good
prompts for the next one once each is moved onto its target's new peak. The peak is searched in the detector's
multiscale contrast map (ml.detection: in noise levels, so 8- and 16-bit frames and any sensor behave alike)
within `radius` px of the old point; ties go to the pixel nearest the old point, and the position is refined to
the centroid of the intensity above the local background in the 5 x 5 around the peak. A point whose best peak
is weaker than `min_score` noise levels (the target left, faded or was hidden) is moved by the median shift of
the followed ones instead (the scene's common motion, e.g. the platform's; off by default, see CarryParams),
and a peak weaker than `sure_score` is marked unsure: the annotator decides.

The previous frame's masks are a hint too: `fit_tightness` finds, per carried point, the cold-start alpha whose
mask here best matches the previous mask moved with the point, i.e. how tightly this team drew this target,
whatever tool drew it (a click, a tightness slider or a brush).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.coldstart import ColdStartParams, point_prompt_masks, to_gray
from ml.detection import DetectorParams, contrast_map, noise_level

REFINE_HALF = 2  # the 5 x 5 window a carried point is centred in
TIGHTNESS_GRID = tuple(round(0.05 * k, 2) for k in range(1, 19))  # 0.05 ... 0.90: the alphas fit_tightness tries


@dataclass(frozen=True)
class CarryParams:
    radius: int = 4  # px: how far a target may move between two frames
    # Noise levels: a weaker best peak is not followed (the common shift is); 0 follows every peak. Chosen on SIRST
    # train backgrounds (bench/sequence.py): following every peak kept 78.9 % of carried points unchanged, a 4.0
    # floor 56.5 % (dim targets moving their own ways lose more by the common shift than by a noisy peak).
    min_score: float = 0.0
    sure_score: float = 4.0  # noise levels: a weaker peak is marked unsure for the annotator
    scales: tuple[int, ...] = DetectorParams().scales
    polarity: str = "bright"


@dataclass
class Carried:
    """Points (N, 2) float64 (x, y) in the new frame, in the previous points' order; scores (N,) (peak contrast in
    noise levels); sure (N,) bool (False: a weak peak, or moved by the common shift only)."""

    points: np.ndarray
    scores: np.ndarray
    sure: np.ndarray


def carry_points(image: np.ndarray, points: np.ndarray, params: CarryParams | None = None) -> Carried:
    """Move each (x, y) point of the previous frame onto its target's peak in `image` (grey (H, W), any dtype)."""
    params = params or CarryParams()
    if params.radius < 0:
        raise ValueError(f"radius must be >= 0, got {params.radius}")
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n = len(points)
    if n == 0:
        return Carried(np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=bool))
    score = contrast_map(image, params.scales, params.polarity) / noise_level(image)
    gray = to_gray(image).astype(np.float64) * (-1.0 if params.polarity == "dark" else 1.0)
    h, w = score.shape
    moved, scores = points.copy(), np.zeros(n)
    for i, (x, y) in enumerate(points):
        cx, cy = int(np.clip(np.floor(x + 0.5), 0, w - 1)), int(np.clip(np.floor(y + 0.5), 0, h - 1))
        y0, y1 = max(0, cy - params.radius), min(h, cy + params.radius + 1)
        x0, x1 = max(0, cx - params.radius), min(w, cx + params.radius + 1)
        win = score[y0:y1, x0:x1]
        yy, xx = np.nonzero(win >= win.max())
        k = int(np.argmin((yy + y0 - y) ** 2 + (xx + x0 - x) ** 2))
        py, px = int(yy[k] + y0), int(xx[k] + x0)
        scores[i] = float(score[py, px])
        moved[i] = _refine(gray, px, py)
    followed = scores >= params.min_score
    if (~followed).any():
        shift = np.median(moved[followed] - points[followed], axis=0) if followed.any() else np.zeros(2)
        moved[~followed] = points[~followed] + shift
    sure = followed & (scores >= params.sure_score)
    moved[:, 0] = np.clip(moved[:, 0], 0, w - 1)
    moved[:, 1] = np.clip(moved[:, 1], 0, h - 1)
    return Carried(moved, scores, sure)


def _refine(gray: np.ndarray, px: int, py: int, half: int = REFINE_HALF) -> np.ndarray:
    """The centroid of the values above the window's border median in the (2 half + 1)^2 window around the peak
    (sub-pixel; the peak itself when nothing stands out)."""
    h, w = gray.shape
    y0, y1, x0, x1 = max(0, py - half), min(h, py + half + 1), max(0, px - half), min(w, px + half + 1)
    win = gray[y0:y1, x0:x1]
    border = np.concatenate([win[0], win[-1], win[:, 0], win[:, -1]])
    win = np.clip(win - np.median(border), 0, None)
    total = win.sum()
    if total <= 0:
        return np.array([px, py], dtype=np.float64)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return np.array([(xx * win).sum() / total, (yy * win).sum() / total])


def shift_mask(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`mask` moved by (dx, dy) rounded to whole pixels; what leaves the frame is lost, what enters is empty."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    sx, sy = int(np.floor(dx + 0.5)), int(np.floor(dy + 0.5))
    out = np.zeros_like(mask)
    if abs(sx) >= w or abs(sy) >= h:
        return out
    out[max(0, sy) : h + min(0, sy), max(0, sx) : w + min(0, sx)] = mask[
        max(0, -sy) : h + min(0, -sy), max(0, -sx) : w + min(0, -sx)
    ]
    return out


def fit_tightness(
    image: np.ndarray,
    points: np.ndarray,
    hints: list[np.ndarray | None],
    params: ColdStartParams | None = None,
    grid: tuple[float, ...] = TIGHTNESS_GRID,
    min_iou: float = 0.0,
) -> list[float | None]:
    """Per point, the alpha of `grid` whose cold-start mask (all points generated together, so neighbours split
    as they will) overlaps its hint best (IoU), the hint being the previous frame's mask moved onto the point;
    None where the hint is None or empty, or where no alpha gets above `min_iou` (the mask here has nothing to do
    with the previous one: the target was lost, or the point moved off it; on the bench's train backgrounds any
    overlap was worth following: a 0.1 floor gave 34.49 mask IoU against 37.68). Ties go to the alpha nearest the
    project's own (`params.alpha`)."""
    params = params or ColdStartParams()
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(hints) != len(points):
        raise ValueError(f"{len(hints)} hints for {len(points)} points")
    wanted = [k for k, hint in enumerate(hints) if hint is not None and np.asarray(hint).any()]
    out: list[float | None] = [None] * len(points)
    if not wanted:
        return out
    order = sorted(grid, key=lambda a: abs(a - params.alpha))  # the first best wins: nearest the project's own
    best = {k: (-1.0, params.alpha) for k in wanted}
    for alpha in order:
        masks = point_prompt_masks(image, points, params, alphas=[alpha] * len(points)).masks
        for k in wanted:
            hint = np.asarray(hints[k], dtype=bool)
            union = np.logical_or(masks[k], hint).sum()
            iou = float(np.logical_and(masks[k], hint).sum() / union) if union else 0.0
            if iou > best[k][0]:
                best[k] = (iou, alpha)
    for k in wanted:
        out[k] = best[k][1] if best[k][0] > min_iou else None
    return out
