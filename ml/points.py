"""Point prompts from GT masks: floored centroids and coarse (jittered, on-mask) points; clicks' mask shares."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class PointCells:
    """Training prompts from human clicks: which mask pixels each prompt owns, and each share's box size.

    points: (M, 2) float (x, y): the N clicks, then the floored centroid of every component no click claims.
    owner: int32 (H, W): 1 + index of the prompt owning each mask pixel; 0 off the mask.
    sides: (M, 2) int (w, h) of each prompt's share's bounding box; (0, 0) when it owns nothing.
    """

    points: np.ndarray
    owner: np.ndarray
    sides: np.ndarray


def point_cells(mask: np.ndarray, points: np.ndarray, snap: float = 3.0) -> PointCells:
    """Split a union mask among (N, 2) float (x, y) clicks (x = column, y = row).

    A click claims the 8-connected component under it, else the nearest one within `snap` px (a click a pixel
    off the drawn mask); a component's pixels go to its nearest claiming click, so two touching targets
    that form one component get one share each. A component nobody clicked is prompted at its floored
    centroid, so every labelled target keeps a prompt. Raises ValueError for a malformed or outside point.
    """
    m = np.asarray(mask, dtype=bool)
    h, w = m.shape
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        pts = np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise ValueError(f"points must be a finite (N, 2) array of (x, y), got shape {pts.shape}")
    col, row = np.rint(pts[:, 0]), np.rint(pts[:, 1])
    outside = (col < 0) | (col >= w) | (row < 0) | (row >= h)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"point {i} (x={pts[i, 0]:g}, y={pts[i, 1]:g}) is outside the {w}x{h} mask")
    n, labels, _, cents = label_components(m)
    ys, xs = np.nonzero(m)
    lab = labels[ys, xs]
    comp = np.zeros(len(pts), dtype=np.int64)
    for i, (x, y) in enumerate(pts):
        under = labels[int(np.rint(y)), int(np.rint(x))]
        if under or not len(ys):
            comp[i] = under
            continue
        d2 = (xs - x) ** 2 + (ys - y) ** 2
        j = int(np.argmin(d2))
        comp[i] = lab[j] if d2[j] <= snap**2 else 0
    unclaimed = [k for k in range(1, n + 1) if k not in set(comp.tolist())]
    all_pts = np.concatenate([pts, np.floor(cents[np.array(unclaimed, dtype=np.int64) - 1]).reshape(-1, 2)])
    all_comp = np.concatenate([comp, np.array(unclaimed, dtype=np.int64)])
    owner = np.zeros((h, w), dtype=np.int32)
    sides = np.zeros((len(all_pts), 2), dtype=np.int64)
    for k in range(1, n + 1):
        mine = np.nonzero(all_comp == k)[0]
        sel = lab == k
        py, px = ys[sel], xs[sel]
        d2 = (px[:, None] - all_pts[mine, 0][None]) ** 2 + (py[:, None] - all_pts[mine, 1][None]) ** 2
        who = mine[np.argmin(d2, axis=1)]
        owner[py, px] = who + 1
        for i in mine:
            cy, cx = py[who == i], px[who == i]
            if len(cy):
                sides[i] = (cx.max() - cx.min() + 1, cy.max() - cy.min() + 1)
    return PointCells(all_pts, owner, sides)


def jitter_points(cells: PointCells, rng: np.random.Generator, max_tries: int = 100) -> np.ndarray:
    """(M, 2) float (x, y): each prompt moved as `coarse_points` moves a centroid, but around the click and
    redrawn until it lands on the click's own share of the mask (else the click itself stays)."""
    h, w = cells.owner.shape
    out = cells.points.copy()
    for i, (px, py) in enumerate(cells.points):
        bw, bh = cells.sides[i]
        if bw == 0:
            continue  # the click owns no mask pixel: nowhere to move it to
        for _ in range(max_tries):
            sx, sy = rng.normal(0.0, 0.25, size=2)
            x = int(np.clip(np.floor(px + sx * bw / 2.0), 0, w - 1))
            y = int(np.clip(np.floor(py + sy * bh / 2.0), 0, h - 1))
            if cells.owner[y, x] == i + 1:
                out[i] = (x, y)
                break
    return out
