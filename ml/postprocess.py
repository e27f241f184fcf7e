"""BBM post-processing with fallback and adhesion splitting: probability map + points -> instance masks."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.points import label_components
from ml.prompts import as_points, point_pixels

FallbackFn = Callable[[int], np.ndarray]


@dataclass
class InstanceResult:
    """Per-target bool (H, W) masks in point order, plus review flags.

    fallback[i]: the network kept nothing for point i, its mask comes from the fallback.
    adhesion[i]: point i shared a component with another point and the component was split.
    """

    masks: list[np.ndarray]
    fallback: list[bool]
    adhesion: list[bool]
    shape: tuple[int, int] = field(default=(0, 0), repr=False)
    prob: np.ndarray | None = field(default=None, repr=False)

    def union(self) -> np.ndarray:
        """All instances as one bool (H, W) mask."""
        out = np.zeros(self.shape, dtype=bool)
        for m in self.masks:
            out |= m
        return out


def _candidates(rc: np.ndarray, labels: np.ndarray, stats: np.ndarray) -> list[int]:
    """Component labels (1-based) whose 1-px-grown box holds pixel rc: the one under the pixel first,
    then the others by distance from the pixel to their box."""
    r, c = int(rc[0]), int(rc[1])
    x0, y0, w, h = (stats[:, i].astype(np.int64) for i in range(4))
    inside = (x0 - 1 <= c) & (c <= x0 + w) & (y0 - 1 <= r) & (r <= y0 + h)
    idx = np.nonzero(inside)[0]
    x0, y0, x1, y1 = x0[idx], y0[idx], x0[idx] + w[idx] - 1, y0[idx] + h[idx] - 1
    dist = np.maximum(np.maximum(x0 - c, c - x1), 0) ** 2 + np.maximum(np.maximum(y0 - r, r - y1), 0) ** 2
    order = [int(i) + 1 for _, i in sorted(zip(dist.tolist(), idx.tolist(), strict=True))]
    under = int(labels[r, c])
    if under and under in order:
        order.remove(under)
        order.insert(0, under)
    return order


def split_component(region: np.ndarray, prob: np.ndarray, seeds: list[tuple[int, int]]) -> list[np.ndarray]:
    """Seeded watershed (priority flood on decreasing probability) of a bool region among seeds.

    Seeds off the region start from the region pixel nearest to them. Returns one bool mask per seed,
    pairwise disjoint, covering the region pixels reachable from the seeds.
    """
    h, w = region.shape
    owner = np.full((h, w), -1, dtype=np.int32)
    ys, xs = np.nonzero(region)
    heap: list[tuple[float, int, int, int, int]] = []
    tick = 0
    for k, (r, c) in enumerate(seeds):
        if not region[r, c]:
            j = int(np.argmin((ys - r) ** 2 + (xs - c) ** 2))
            r, c = int(ys[j]), int(xs[j])
        heapq.heappush(heap, (-float(prob[r, c]), tick, r, c, k))
        tick += 1
    while heap:
        _, _, r, c, k = heapq.heappop(heap)
        if owner[r, c] != -1:
            continue
        owner[r, c] = k
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and region[rr, cc] and owner[rr, cc] == -1:
                    heapq.heappush(heap, (-float(prob[rr, cc]), tick, rr, cc, k))
                    tick += 1
    return [owner == k for k in range(len(seeds))]


def bbm_instances(
    prob: np.ndarray,
    points: np.ndarray,
    threshold: float = 0.5,
    fallback: FallbackFn | None = None,
    nearest_click: bool = True,
    gaps: bool = True,
) -> InstanceResult:
    """Bounding-box matching with the app's additions.

    Args:
        prob: (H, W) float probability map.
        points: (N, 2) float (x, y) prompts, one per target.
        threshold: strict threshold (prob > threshold) as in the paper.
        fallback: called with a point index when that point keeps nothing; returns a bool (H, W)
            mask (e.g. the cold-start blob). Without it the point's own pixel is used.

    Steps: 8-connected components of prob > threshold; each point claims the component under it,
    else the nearest whose 1-px-grown box holds it; components no point claims are dropped. A
    component claimed by several points is split between them (seeded watershed on prob) and those
    points are flagged `adhesion`; a point with no candidate gets the fallback and a `fallback` flag.
    With `nearest_click`, each instance then keeps only the pixels nearer to its own click than to any
    other, in one piece (an instance left empty takes its fallback there, flagged). Masks are pairwise
    disjoint. With `gaps`, split instances then give up the pixels where they touch an earlier one (SIRST's
    convention: every target its own component of the union mask); without, they may touch, as a team's
    confirmed masks of a dense cluster do (`instances_touch`).
    """
    p = np.asarray(prob, dtype=np.float32)
    h, w = p.shape
    pts = as_points(points)
    n = len(pts)
    if n == 0:
        return InstanceResult([], [], [], (h, w))
    rcs = point_pixels(pts, (h, w))
    _, labels, stats, _ = label_components(p > threshold)
    claims: dict[int, list[int]] = {}
    lost: list[int] = []
    for i in range(n):
        cands = _candidates(rcs[i], labels, stats)
        # Prefer a component nobody claimed yet, unless the point sits on a claimed one.
        free = [c for c in cands if c not in claims]
        if cands and (labels[rcs[i][0], rcs[i][1]] == cands[0] or not free):
            choice = cands[0]
        elif free:
            choice = free[0]
        else:
            lost.append(i)
            continue
        claims.setdefault(choice, []).append(i)
    masks = [np.zeros((h, w), dtype=bool) for _ in range(n)]
    adhesion = [False] * n
    for comp, owners in claims.items():
        region = labels == comp
        if len(owners) == 1:
            masks[owners[0]] = region
            continue
        parts = split_component(region, p, [(int(rcs[i][0]), int(rcs[i][1])) for i in owners])
        for i, part in zip(owners, parts, strict=True):
            masks[i] = part
            adhesion[i] = True
    fell = [False] * n
    taken = np.zeros((h, w), dtype=bool)
    for m in masks:
        taken |= m
    for i in lost:
        fell[i] = True
        if fallback is not None:
            blob = np.asarray(fallback(i), dtype=bool) & ~taken
        else:
            blob = np.zeros((h, w), dtype=bool)
            r, c = rcs[i]
            if not taken[r, c]:
                blob[r, c] = True
        masks[i] = blob
        taken |= blob
    if nearest_click and n > 1:
        kept = np.zeros((h, w), dtype=bool)
        for m in masks:
            kept |= m
        _nearest_click(masks, pts, rcs, fell, fallback)
        _regrow(masks, kept, pts)
    if gaps and (any(adhesion) or any(fell)):
        _separate(masks, [adhesion[i] or fell[i] for i in range(n)], rcs)
    return InstanceResult(masks, fell, adhesion, (h, w))


def _nearest_click(
    masks: list[np.ndarray], pts: np.ndarray, rcs: np.ndarray, fell: list[bool], fallback: FallbackFn | None
) -> None:
    """Keep in each instance only the pixels nearer to its own click than to any other (the cold start's rule),
    then the piece that holds (or is nearest to) its click; an instance left empty takes its fallback within its
    own cell. In a dense cluster the net's blob for one click can spread over its neighbours (one target taken
    for two, the other left with nothing); on sparse frames nothing changes."""
    n = len(pts)
    for i in range(n):
        m = masks[i]
        if m.any():
            masks[i] = _piece_at(m & _cell(m, pts, i), rcs[i])
    for i in range(n):
        if masks[i].any():
            continue
        fell[i] = True
        taken = np.zeros_like(masks[i])
        for j in range(n):
            if j != i:
                taken |= masks[j]
        blob = np.asarray(fallback(i), dtype=bool) & ~taken if fallback is not None else np.zeros_like(taken)
        blob &= _cell(blob, pts, i)
        if not blob.any() and not taken[rcs[i][0], rcs[i][1]]:
            blob[rcs[i][0], rcs[i][1]] = True
        masks[i] = _piece_at(blob, rcs[i]) if blob.any() else blob


def _regrow(masks: list[np.ndarray], kept: np.ndarray, pts: np.ndarray) -> None:
    """Give back the pixels `_nearest_click` took out of the kept union to the instance whose cell they lie in
    (the nearest click's), where they join it through 8-adjacent pixels of that cell: every mask stays in its own
    cell and in one piece, so no mask holds another target's click.

    Why: in a dense cluster the net's split and the clicks' cells disagree along many borders, and a pixel cut
    from one instance for lying in a neighbour's cell belongs to that neighbour, not to the background; dropping
    them cost a fine-tuned net 18 IoU points on clusters (82.5 -> 64 on the dense train proxy)."""
    owner = np.zeros(kept.shape, dtype=np.float32)
    for k, m in enumerate(masks, start=1):
        owner[m] = k
    free = kept & (owner == 0)
    ys, xs = np.nonzero(free)
    if not len(ys):
        return
    cell = np.zeros(kept.shape, dtype=np.float32)
    d = (xs[:, None] - pts[None, :, 0]) ** 2 + (ys[:, None] - pts[None, :, 1]) ** 2
    cell[ys, xs] = np.argmin(d, axis=1) + 1  # as `_cell`: ties to the lower index
    while True:
        grown = _touches_own(owner, cell, free)
        if not grown.any():
            break
        owner[grown] = cell[grown]
        free &= ~grown
    for k in range(len(masks)):
        masks[k] = owner == k + 1


def _touches_own(owner: np.ndarray, cell: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Free pixels with an 8-neighbour already in the instance of their own cell."""
    h, w = owner.shape
    pad = np.pad(owner, 1)
    out = np.zeros((h, w), dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out |= pad[dy : dy + h, dx : dx + w] == cell
    return out & free


def _cell(mask: np.ndarray, pts: np.ndarray, i: int) -> np.ndarray:
    """The pixels of `mask` nearer to point i than to any other point (ties to the lower index), as a mask."""
    out = np.zeros(mask.shape, dtype=bool)
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return out
    d = (xs[:, None] - pts[None, :, 0]) ** 2 + (ys[:, None] - pts[None, :, 1]) ** 2
    mine = np.argmin(d, axis=1) == i
    out[ys[mine], xs[mine]] = True
    return out


def _piece_at(mask: np.ndarray, rc: np.ndarray) -> np.ndarray:
    """The 8-connected piece of `mask` under pixel rc, else the piece nearest to it."""
    n, labels, _, _ = label_components(mask)
    if n <= 1:
        return mask
    r, c = int(rc[0]), int(rc[1])
    k = labels[r, c]
    if not k:
        ys, xs = np.nonzero(mask)
        j = int(np.argmin((ys - r) ** 2 + (xs - c) ** 2))
        k = labels[ys[j], xs[j]]
    return labels == k


def _separate(masks: list[np.ndarray], movable: list[bool], rcs: np.ndarray) -> None:
    """Open a 1-px gap between touching instances, so that their union keeps one 8-connected
    component per target (the union PNG and the metrics see two targets, not one). Only split or
    fallback masks give up pixels, and only where they touch a mask earlier in point order."""
    kernel = np.ones((3, 3), np.uint8)
    for k, m in enumerate(masks):
        if not movable[k] or not m.any() or k == 0:
            continue
        before = np.zeros(m.shape, dtype=np.uint8)
        for j in range(k):
            before |= masks[j].astype(np.uint8)
        if before.any():
            carved = m & (cv2.dilate(before, kernel) == 0)
            r, c = int(rcs[k][0]), int(rcs[k][1])
            # A tiny target in a dense cluster would lose its click or most of itself to the gap: it stays touching
            # (each target's own mask is stored apart; only a union view would read them as one).
            if (carved[r, c] or not m[r, c]) and 2 * carved.sum() >= m.sum():
                masks[k] = carved


def instances_touch(instances: list[np.ndarray]) -> bool:
    """Whether any two instance masks of one frame overlap or are 8-adjacent: the labels of a team that lets
    touching targets touch (no 1-px gap between them), so its masks should be made that way too."""
    if len(instances) < 2:
        return False
    owner = np.zeros(np.asarray(instances[0]).shape, dtype=np.int32)
    for k, m in enumerate(instances, start=1):
        m = np.asarray(m, dtype=bool)
        if (owner[m] > 0).any():
            return True
        owner[m] = k
    h, w = owner.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each pixel against its right / lower neighbours
        a = owner[: h - dy, max(0, -dx) : w - max(0, dx)]
        b = owner[dy:, max(0, dx) : w + min(0, dx)]
        if ((a > 0) & (b > 0) & (a != b)).any():
            return True
    return False


def review_flags(
    mask: np.ndarray, own: np.ndarray, coverage: np.ndarray, fallback: bool, adhesion: bool, large: int
) -> list[str]:
    """Review flags for one target's mask: "fallback" (the net kept nothing there), "adhesion" (it was split from,
    or touches, another target's mask), "too_large" (over `large` pixels). `coverage` counts the masks over each
    pixel and `own` is the target's mask in it: their difference is the other targets' masks, read only around
    this mask (no full frame per target)."""
    found = []
    if fallback:
        found.append("fallback")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows):
        y0, y1 = max(rows[0] - 1, 0), rows[-1] + 2
        x0, x1 = max(cols[0] - 1, 0), cols[-1] + 2
        grown = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        others = coverage[y0:y1, x0:x1] > own[y0:y1, x0:x1]
        adhesion = adhesion or bool(np.any(grown & others))
    if adhesion:
        found.append("adhesion")
    if int(mask.sum()) > large:
        found.append("too_large")
    return found
