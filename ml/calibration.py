"""Per-project calibration of the cold-start alpha ("tightness") from a few confirmed masks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ml.coldstart import ColdStartParams, point_prompt_masks

DEFAULT_GRID: tuple[float, ...] = tuple(round(0.10 + 0.05 * i, 2) for i in range(9))  # 0.10, 0.15, ..., 0.50
_TIE = 1e-12


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen alpha (and GrabCut toggle) with the pooled IoU of every tried setting."""

    best_alpha: float
    table: list[dict]
    n_images: int
    n_targets: int
    best_use_grabcut: bool = True


def calibrate_alpha(
    samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    grid: Sequence[float] = DEFAULT_GRID,
    params: ColdStartParams | None = None,
    compare_grabcut: bool = True,
) -> CalibrationResult:
    """Pick the alpha whose union masks have the highest dataset-level (pooled) IoU.

    Args:
        samples: (image, points (N, 2) in (x, y), ground-truth union mask bool (H, W)) per image.
        grid: alphas to try.
        params: base settings; only ``alpha`` (and ``use_grabcut`` when compared) vary.
        compare_grabcut: also try the other GrabCut setting and pick the best (alpha, GrabCut) pair.

    Returns:
        CalibrationResult; ties go to the alpha nearest ``params.alpha`` (the default), then to
        ``params.use_grabcut``.
    """
    base = params or ColdStartParams()
    data = [
        (img, np.asarray(pts, dtype=np.float64).reshape(-1, 2), np.asarray(gt, dtype=bool)) for img, pts, gt in samples
    ]
    if not data or not grid:
        raise ValueError(f"calibration needs at least one sample and one alpha (got {len(data)} samples, grid {grid})")
    toggles = [base.use_grabcut, not base.use_grabcut] if compare_grabcut else [base.use_grabcut]
    table = []
    for use_gc in toggles:
        for alpha in grid:
            p = dataclasses.replace(base, alpha=float(alpha), use_grabcut=use_gc)
            table.append({"alpha": float(alpha), "use_grabcut": use_gc, "iou": _pooled_iou(data, p)})

    def rank(row: dict) -> tuple[float, float, int]:
        return (-round(row["iou"] / _TIE), abs(row["alpha"] - base.alpha), row["use_grabcut"] != base.use_grabcut)

    best = min(table, key=rank)
    return CalibrationResult(
        best_alpha=best["alpha"],
        table=table,
        n_images=len(data),
        n_targets=sum(len(pts) for _, pts, _ in data),
        best_use_grabcut=best["use_grabcut"],
    )


def _pooled_iou(data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], params: ColdStartParams) -> float:
    inter = union = 0
    for img, pts, gt in data:
        pred = point_prompt_masks(img, pts, params).union()
        inter += int(np.count_nonzero(pred & gt))
        union += int(np.count_nonzero(pred | gt))
    return inter / union if union else 1.0
