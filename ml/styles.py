"""Label styles for prior-following training: each target's mask drawn wider or tighter, and the alpha it needs.

Why: the prior channel is the cold start at one alpha, so a net trained only on SIRST's masks draws SIRST's
width whatever the prior says, and a project whose annotators draw wider cannot steer it through the cold-start
calibration the app already runs. Training on restyled labels, each paired with a prior made at the alpha that
best reproduces that style, teaches the net to follow the prior's width.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from ml.calibration import WIDE_GRID, calibrate_alpha
from ml.coldstart import ColdStartParams
from ml.points import label_components

# Style name -> pixels added (dilation) or removed (erosion) around every target.
STYLES: dict[str, int] = {"erode1": -1, "dilate1": 1, "dilate2": 2, "dilate3": 3}
# The app's calibration grid (0.02-0.7, denser at the low end where a mask grows fast as alpha falls): the net
# learns to follow exactly the alphas a project's calibration can pick.
STYLE_GRID: tuple[float, ...] = WIDE_GRID
ALPHA_JITTER = 0.15  # a styled sample's prior alpha is its style's alpha times U(1 - j, 1 + j)
_K = np.ones((3, 3), np.uint8)
_FREE = np.float32(1e9)  # stands in for "no label" when taking the minimum label of a neighbourhood


def _grow_once(labels: np.ndarray) -> np.ndarray:
    """Grow every label by one pixel (8-neighbourhood) where only that label is near and no other label would
    touch the new pixel: separate targets never merge, and keep one component each."""
    lab = labels.astype(np.float32)
    hi = cv2.dilate(lab, _K)
    lo = cv2.erode(np.where(labels > 0, lab, _FREE), _K)
    cand = (labels == 0) & (hi > 0) & (hi == lo)
    tent = np.where(cand, hi, lab)
    t_hi = cv2.dilate(tent, _K)
    t_lo = cv2.erode(np.where(tent > 0, tent, _FREE), _K)
    keep = cand & (t_hi == hi) & (t_lo == hi)
    out = labels.copy()
    out[keep] = labels.dtype.type(0) + hi[keep].astype(labels.dtype)
    return out


def restyle_mask(mask: np.ndarray, d: int) -> np.ndarray:
    """A bool (H, W) mask with every 8-connected target dilated by `d` px (d > 0, square neighbourhood, no two
    targets merged) or eroded by -d px (d < 0) where the target survives it (else kept as it was)."""
    m = np.asarray(mask, dtype=bool)
    if d == 0 or not m.any():
        return m.copy()
    n, labels, _, _ = label_components(m)
    if d > 0:
        for _ in range(d):
            labels = _grow_once(labels)
        return labels > 0
    eroded = cv2.erode(m.astype(np.uint8), _K, iterations=-d) > 0
    kept = np.zeros(n + 1, dtype=bool)
    kept[np.unique(labels[eroded])] = True
    lost = ~kept[labels] & m
    return eroded | lost


def style_alpha_table(
    samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    params: ColdStartParams | None = None,
    grid: tuple[float, ...] = STYLE_GRID,
) -> dict[str, float]:
    """Alpha per style: the cold-start calibration (pooled IoU, GrabCut as in `params`) against each style's labels.

    Args:
        samples: (image (H, W), points (N, 2) float (x, y), bool mask (H, W)) per training frame.
        params: the cold-start settings of the prior (only alpha varies).
        grid: alphas to try.

    Returns:
        {style name: alpha} for every entry of STYLES (unstyled samples keep `params.alpha`).
    """
    data = list(samples)
    return {
        name: float(
            calibrate_alpha(
                [(img, pts, restyle_mask(m, d)) for img, pts, m in data], grid=grid, params=params,
                compare_grabcut=False,
            ).best_alpha
        )
        for name, d in STYLES.items()
    }  # fmt: skip


def distinct_styles(table: dict[str, float], default_alpha: float) -> list[str]:
    """The styles the prior can express: going wider (erode1 -> dilate3), each kept style's alpha must be strictly
    below the last kept one's, with the default alpha between the eroded and the dilated styles.

    Why: on SIRST train dilate2 and dilate3 both calibrate to alpha 0.07, so their priors are alike while their
    labels differ by a pixel; training on both teaches the net to average them and blurs every border.
    """
    kept: list[str] = []
    for name, d in sorted(STYLES.items(), key=lambda kv: kv[1]):
        if d < 0:
            ok = table[name] > default_alpha and (not kept or table[name] < table[kept[-1]])
        else:
            last = table[kept[-1]] if kept and STYLES[kept[-1]] > 0 else default_alpha
            ok = table[name] < last
        if ok:
            kept.append(name)
    return kept
