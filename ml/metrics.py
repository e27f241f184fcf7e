"""Pooled IoU, Pd, Fat and Fa on binary masks (EDGSP spec §7), accumulated over a dataset."""

from __future__ import annotations

from dataclasses import dataclass

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

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: `pred` and `gt` are (H, W) bool or {0, 1} masks of one size."""
        p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
        if p.shape != g.shape:
            raise ValueError(f"prediction shape {p.shape} differs from ground truth shape {g.shape}")
        self.inter += int(np.count_nonzero(p & g))
        self.union += int(np.count_nonzero(p | g))
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


def evaluate_masks(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, float]:
    """Score paired lists of binary masks; see `SegmentationMetrics`."""
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predictions for {len(gts)} ground-truth masks")
    acc = SegmentationMetrics()
    for p, g in zip(preds, gts, strict=True):
        acc.update(p, g)
    return acc.result()
