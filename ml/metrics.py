"""Pooled IoU, Pd, Fat and Fa on binary masks (EDGSP spec §7), accumulated over a dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    if len(a.image_inter) != len(b.image_inter):
        raise ValueError(f"paired bootstrap needs the same images: {len(a.image_inter)} vs {len(b.image_inter)}")
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must lie in [0.5, 1), got {confidence}")
    ia, ua = np.asarray(a.image_inter, float), np.asarray(a.image_union, float)
    ib, ub = np.asarray(b.image_inter, float), np.asarray(b.image_union, float)
    n = len(ia)

    def iou(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
        return np.divide(100.0 * inter, union, out=np.full_like(inter, 100.0), where=union > 0)

    ones = np.ones((1, n))
    gain = float((iou(ones @ ia, ones @ ua) - iou(ones @ ib, ones @ ub))[0])
    if n == 0:
        return {"gain": gain, "lower": gain, "p_better": 0.5, "n_images": 0}
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    deltas = iou(weights @ ia, weights @ ua) - iou(weights @ ib, weights @ ub)
    return {
        "gain": gain,
        "lower": float(np.quantile(deltas, 1.0 - confidence)),
        "p_better": float(np.mean(deltas > 0)),
        "n_images": n,
    }
