"""Pooled IoU, Pd, Fat and Fa on binary masks (EDGSP spec §7), accumulated over a dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.points import label_components

MATCH_DISTANCE = 3.0


@dataclass
class SegmentationMetrics:
    """Accumulator. IoU = sum(inter) / sum(union); Pd = matched GT / GT targets (centroid distance
    < 3 px, GT components in label order take the first unmatched prediction); Fat = unmatched
    predicted components / GT targets; Fa = unmatched predicted pixels / all pixels."""

    inter: int = 0
    union: int = 0
    n_targets: int = 0
    n_matched: int = 0
    n_false: int = 0
    false_pixels: int = 0
    n_pixels: int = 0
    n_images: int = 0
    image_inter: list[int] = field(default_factory=list)  # per image, in update order: the paired bootstrap's input
    image_union: list[int] = field(default_factory=list)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: `pred` and `gt` are (H, W) bool or {0, 1} masks of one size."""
        p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
        if p.shape != g.shape:
            raise ValueError(f"prediction shape {p.shape} differs from ground truth shape {g.shape}")
        inter, union = int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g))
        self.inter += inter
        self.union += union
        self.image_inter.append(inter)
        self.image_union.append(union)
        self.n_pixels += p.size
        self.n_images += 1
        n_g, _, _, c_g = label_components(g)
        n_p, _, s_p, c_p = label_components(p)
        free = np.ones(n_p, dtype=bool)
        for i in range(n_g):
            for j in range(n_p):
                if free[j] and np.hypot(*(c_g[i] - c_p[j])) < MATCH_DISTANCE:
                    free[j] = False
                    self.n_matched += 1
                    break
        self.n_targets += n_g
        self.n_false += int(free.sum())
        self.false_pixels += int(s_p[free, 4].sum()) if n_p else 0

    def result(self) -> dict[str, float]:
        """iou, pd, fat in %, fa in 1e-6, plus the counts."""
        return {
            "iou": 100.0 * self.inter / self.union if self.union else 100.0,
            "pd": 100.0 * self.n_matched / self.n_targets if self.n_targets else 100.0,
            "fat": 100.0 * self.n_false / self.n_targets if self.n_targets else float(self.n_false > 0) * 100.0,
            "fa": 1e6 * self.false_pixels / self.n_pixels if self.n_pixels else 0.0,
            "n_images": self.n_images,
            "n_targets": self.n_targets,
        }


def accumulate(preds: list[np.ndarray], gts: list[np.ndarray]) -> SegmentationMetrics:
    """The accumulator over paired lists of binary masks (keeps the per-image counts)."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} ground-truth masks")
    acc = SegmentationMetrics()
    for p, g in zip(preds, gts, strict=True):
        acc.update(p, g)
    return acc


def evaluate_masks(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, float]:
    """Score paired lists of binary masks; see `SegmentationMetrics`."""
    return accumulate(preds, gts).result()


def pooled_iou(inter: np.ndarray | float, union: np.ndarray | float) -> np.ndarray:
    """100 * inter / union elementwise (100 where nothing is predicted nor true): the pooled IoU of summed counts."""
    inter, union = np.asarray(inter, float), np.asarray(union, float)
    return np.divide(100.0 * inter, union, out=np.full_like(inter, 100.0), where=union > 0)


def _resample_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) counts of each image in a bootstrap resample of n images."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def iou_interval(
    inter: list[int], union: list[int], confidence: float = 0.95, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """Two-sided percentile-bootstrap interval of the pooled IoU over images (resampling frames, not pixels).

    On 85 frames a pooled IoU moves by several points with which frames were drawn; a figure reported
    without this interval invites choosing on noise.
    """
    if len(inter) != len(union):
        raise ValueError(f"{len(inter)} intersections for {len(union)} unions")
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must lie in [0.5, 1), got {confidence}")
    i, u = np.asarray(inter, float), np.asarray(union, float)
    if len(i) == 0:
        return 100.0, 100.0
    w = _resample_weights(len(i), n_boot, seed)
    boot = pooled_iou(w @ i, w @ u)
    tail = (1.0 - confidence) / 2
    return float(np.quantile(boot, tail)), float(np.quantile(boot, 1.0 - tail))


def iou_gain_interval(
    a: SegmentationMetrics, b: SegmentationMetrics, confidence: float = 0.95, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float, float]:
    """(gain, low, high): `a`'s pooled IoU minus `b`'s on the same images, with a two-sided paired-bootstrap
    interval (both scored on each resample, so the images' shared difficulty cancels)."""
    gain, deltas = _gain_deltas(a, b, n_boot, seed)
    if deltas is None:
        return gain, gain, gain
    tail = (1.0 - confidence) / 2
    return gain, float(np.quantile(deltas, tail)), float(np.quantile(deltas, 1.0 - tail))


def _gain_deltas(
    a: SegmentationMetrics, b: SegmentationMetrics, n_boot: int, seed: int
) -> tuple[float, np.ndarray | None]:
    """a's pooled-IoU gain over b's, and its value on each paired bootstrap resample of the images (None: none)."""
    if len(a.image_inter) != len(b.image_inter):
        raise ValueError(f"paired bootstrap needs the same images: {len(a.image_inter)} vs {len(b.image_inter)}")
    ia, ua = np.asarray(a.image_inter, float), np.asarray(a.image_union, float)
    ib, ub = np.asarray(b.image_inter, float), np.asarray(b.image_union, float)
    gain = float(pooled_iou(ia.sum(), ua.sum()) - pooled_iou(ib.sum(), ub.sum()))
    if len(ia) == 0:
        return gain, None
    weights = _resample_weights(len(ia), n_boot, seed)
    return gain, pooled_iou(weights @ ia, weights @ ua) - pooled_iou(weights @ ib, weights @ ub)


def iou_gain_bootstrap(
    a: SegmentationMetrics,
    b: SegmentationMetrics,
    confidence: float = 0.95,
    n_boot: int = 4000,
    seed: int = 0,
) -> dict[str, float]:
    """How sure is it that `a` has a higher pooled IoU than `b` on images like these?

    A paired bootstrap over images: both models are scored on the same resampled images, so their shared
    difficulty cancels. On a few dozen images a gain of a few tenths of a point is noise (a few large targets
    dominate the pooled IoU); a gate that promotes on the point estimate promotes noise.

    Args:
        a, b: accumulators over the same images in the same order (ground truth identical).
        confidence: one-sided level of `lower` (0.95: the gain exceeds `lower` in 95 % of resamples).

    Returns:
        gain (a's IoU minus b's, points), lower (the one-sided bound), p_better (share of resamples with a
        higher IoU for a), n_images.
    """
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must lie in [0.5, 1), got {confidence}")
    gain, deltas = _gain_deltas(a, b, n_boot, seed)
    if deltas is None:
        return {"gain": gain, "lower": gain, "p_better": 0.5, "n_images": 0}
    n = len(a.image_inter)
    return {
        "gain": gain,
        "lower": float(np.quantile(deltas, 1.0 - confidence)),
        "p_better": float(np.mean(deltas > 0)),
        "n_images": n,
    }


COUNT_KEYS = ("inter", "union", "n_targets", "n_matched", "n_false", "false_pixels", "n_pixels")


def frame_counts(pred: np.ndarray, gt: np.ndarray) -> dict[str, int]:
    """One frame's counts (the keys of COUNT_KEYS): stored per frame, they pool exactly into dataset figures."""
    acc = SegmentationMetrics()
    acc.update(pred, gt)
    return {k: int(getattr(acc, k)) for k in COUNT_KEYS}


def pooled_figures(rows: list[dict[str, int]]) -> dict[str, float]:
    """iou, pd, fat (%), fa (1e-6) of frames given by their `frame_counts` (the same rules as SegmentationMetrics)."""
    acc = SegmentationMetrics()
    for row in rows:
        for k in COUNT_KEYS:
            setattr(acc, k, getattr(acc, k) + int(row[k]))
    acc.n_images = len(rows)
    return acc.result()


EXACT_FRAMES = 16  # up to this many frames the sign-flip test enumerates every assignment (2**16)


def min_frames_for(confidence: float) -> int:
    """The fewest informative frames on which the sign-flip test can reach `confidence` (p >= 2**-n)."""
    return int(np.ceil(np.log2(1.0 / (1.0 - confidence)) - 1e-9))


def paired_gain_test(
    a_inter: list[int],
    a_union: list[int],
    b_inter: list[int],
    b_union: list[int],
    confidence: float = 0.95,
    n_random: int = 20000,
    seed: int = 0,
) -> dict[str, float | int | bool]:
    """Is generator `a`'s pooled IoU really higher than `b`'s on these frames? A paired sign-flip test.

    Under "no difference" the two generators' results on a frame are exchangeable, so swapping them on any
    subset of frames is as likely as what was observed. The p-value is the share of the 2**n swap patterns
    whose pooled-IoU gain is at least the observed one: exact (enumerated up to EXACT_FRAMES frames, else
    `n_random` seeded draws), free of any distribution assumption (a few large targets dominate a pooled IoU,
    so per-frame differences are far from normal), and it needs no more frames than the data demand: at
    0.95, five frames that all favour `a` suffice (p = 1/32) when the gain is 20 points, while a 1-point
    gain buried in frame-to-frame noise needs dozens. Frames where both are identical carry no information
    and are left out of n.

    Returns: gain (points, a minus b, on all frames), p_value, n (informative frames), wins / losses (frames
    where a's / b's IoU is higher), significant (p_value <= 1 - confidence), min_frames.
    """
    ia, ua = np.asarray(a_inter, float), np.asarray(a_union, float)
    ib, ub = np.asarray(b_inter, float), np.asarray(b_union, float)
    if not (len(ia) == len(ua) == len(ib) == len(ub)):
        raise ValueError(f"paired test needs counts of the same frames: {len(ia)}, {len(ua)}, {len(ib)}, {len(ub)}")
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must lie in [0.5, 1), got {confidence}")
    gain = float(pooled_iou(ia.sum(), ua.sum()) - pooled_iou(ib.sum(), ub.sum()))
    frame_a, frame_b = pooled_iou(ia, ua), pooled_iou(ib, ub)
    wins, losses = int(np.sum(frame_a > frame_b + 1e-9)), int(np.sum(frame_b > frame_a + 1e-9))
    keep = (ia != ib) | (ua != ub)
    n = int(keep.sum())
    out: dict[str, float | int | bool] = {
        "gain": gain,
        "p_value": 1.0,
        "n": n,
        "wins": wins,
        "losses": losses,
        "significant": False,
        "min_frames": min_frames_for(confidence),
    }
    if n == 0:
        return out
    ia, ua, ib, ub = ia[keep], ua[keep], ib[keep], ub[keep]
    if n <= EXACT_FRAMES:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        flips = ((codes >> np.arange(n)) & 1).astype(float)  # 1: the frame's results are swapped
    else:
        flips = np.random.default_rng(seed).integers(0, 2, size=(n_random, n)).astype(float)
        flips[0] = 0.0  # the observed assignment is always one of the draws
    # a's sums after swapping the flipped frames; b's are the totals minus a's.
    sa_i = ia.sum() + flips @ (ib - ia)
    sa_u = ua.sum() + flips @ (ub - ua)
    total_i, total_u = ia.sum() + ib.sum(), ua.sum() + ub.sum()
    gains = pooled_iou(sa_i, sa_u) - pooled_iou(total_i - sa_i, total_u - sa_u)
    observed = float(pooled_iou(ia.sum(), ua.sum()) - pooled_iou(ib.sum(), ub.sum()))
    p_value = float(np.mean(gains >= observed - 1e-9))
    out["p_value"] = p_value
    out["significant"] = bool(observed > 0 and p_value <= 1.0 - confidence + 1e-12)
    return out


def instance_counts(preds: list[np.ndarray], gts: list[np.ndarray], points: np.ndarray | None = None) -> dict[str, int]:
    """One frame's counts (COUNT_KEYS + n_merged) when each target's predicted and true masks are paired (the app
    knows which click made which mask). Pixels pool over the unions as usual; targets are matched pairwise, so
    touching targets, one blob in the union, still count one by one: target i is detected when prediction i's
    centroid lies within MATCH_DISTANCE of truth i's; a piece of prediction i that misses truth i is a false
    target; n_merged counts predictions that cover another target's point (two targets made one)."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predicted instances for {len(gts)} true ones")
    if not gts:
        return {**{k: 0 for k in COUNT_KEYS}, "n_merged": 0}
    shape = np.shape(gts[0])
    union_p, union_g = np.zeros(shape, bool), np.zeros(shape, bool)
    out = {k: 0 for k in COUNT_KEYS}
    for pred, gt in zip(preds, gts, strict=True):
        p, g = np.asarray(pred, bool), np.asarray(gt, bool)
        union_p |= p
        union_g |= g
        if g.any():
            out["n_targets"] += 1
            if p.any():
                gy, gx = np.nonzero(g)
                py, px = np.nonzero(p)
                if np.hypot(px.mean() - gx.mean(), py.mean() - gy.mean()) < MATCH_DISTANCE:
                    out["n_matched"] += 1
        n, labels, stats, _ = label_components(p)
        for k in range(n):
            if not np.any(g[labels == k + 1]):
                out["n_false"] += 1
                out["false_pixels"] += int(stats[k, 4])
    out["inter"] = int(np.count_nonzero(union_p & union_g))
    out["union"] = int(np.count_nonzero(union_p | union_g))
    out["n_pixels"] = int(union_g.size)
    merged = 0
    if points is not None and len(points):
        h, w = shape
        cells = [(min(max(int(round(y)), 0), h - 1), min(max(int(round(x)), 0), w - 1)) for x, y in points]
        for i, pred in enumerate(preds):
            if any(np.asarray(pred, bool)[r, c] for j, (r, c) in enumerate(cells) if j != i):
                merged += 1
    out["n_merged"] = merged
    return out


def detection_matches(points: np.ndarray, gt: np.ndarray, margin: int = 3) -> tuple[np.ndarray, int]:
    """Which true target each candidate point (x, y) lies on: its 8-connected component grown by `margin` px (a
    peak a pixel beside a 2-px target still finds it). Points: (N, 2) in (x, y) order.

    Returns (labels int (N,), 0 = on no target, else 1..n_targets; n_targets)."""
    g = np.asarray(gt, dtype=bool)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    n, labels, _, _ = label_components(g)
    if margin > 0 and n:
        grown = cv2.dilate(labels.astype(np.float32), np.ones((2 * margin + 1,) * 2, np.uint8))
        labels = np.where(labels > 0, labels, grown.astype(np.int32))  # overlaps go to the higher label: rare
    h, w = g.shape
    rows = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    cols = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    return labels[rows, cols].astype(np.int64), int(n)


def detection_tally(hits: np.ndarray, n_targets: int) -> dict[str, int]:
    """Counts from `detection_matches`' labels, candidates in rank order: each target counts once; candidates on
    no target, or a second one on a target already found, are false alarms (the annotator deletes each)."""
    hits = np.asarray(hits, dtype=np.int64).ravel()
    found = len(set(hits[hits > 0].tolist()))
    return {"n_targets": n_targets, "n_detected": found, "n_false": int(len(hits) - found), "n_candidates": len(hits)}


def detection_counts(points: np.ndarray, gt: np.ndarray, margin: int = 3) -> dict[str, int]:
    """One frame's point-detection counts (see detection_matches and detection_tally): n_targets, n_detected,
    n_false, n_candidates."""
    return detection_tally(*detection_matches(points, gt, margin))
