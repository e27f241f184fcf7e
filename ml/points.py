"""Point prompts from GT masks: floored centroids and coarse (jittered, on-mask) points."""

from __future__ import annotations

import cv2
import numpy as np


def label_components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a bool (H, W) mask.

    Returns (n, labels int32 (H, W), stats (n, 5) [x, y, w, h, area], centroids (n, 2) (x, y)),
    background excluded (labels 1..n).
    """
    m = np.ascontiguousarray(np.asarray(mask, dtype=bool), dtype=np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(m, connectivity=8, ltype=cv2.CV_32S)
    return n - 1, labels, stats[1:], cents[1:]


def centroid_points(mask: np.ndarray) -> np.ndarray:
    """(N, 2) float (x, y): floor of the centroid of each 8-connected component (LESPS/EDGSP)."""
    n, _, _, cents = label_components(mask)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float64)
    return np.floor(cents).astype(np.float64)


def coarse_points(mask: np.ndarray, rng: np.random.Generator, max_tries: int = 1000) -> np.ndarray:
    """(N, 2) float (x, y): centroid + N(0, (bbox side / 8)^2) per axis, floored, redrawn until on the mask.

    As LESPS `coarse_anno.m`: the point may land on any mask pixel; after `max_tries` the floored
    centroid is used (and if that is off-mask, the component pixel nearest to the centroid).
    """
    m = np.asarray(mask, dtype=bool)
    n, labels, stats, cents = label_components(m)
    h, w = m.shape
    out = np.zeros((n, 2), dtype=np.float64)
    for i in range(n):
        cx, cy = cents[i]
        bw, bh = stats[i, 2], stats[i, 3]
        for _ in range(max_tries):
            sx, sy = rng.normal(0.0, 0.25, size=2)
            x = int(np.clip(np.floor(cx + sx * bw / 2.0), 0, w - 1))
            y = int(np.clip(np.floor(cy + sy * bh / 2.0), 0, h - 1))
            if m[y, x]:
                break
        else:
            ys, xs = np.nonzero(labels == i + 1)
            j = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
            x, y = int(xs[j]), int(ys[j])
        out[i] = (x, y)
    return out
