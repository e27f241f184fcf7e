"""Per-project calibration of the cold-start alpha ("tightness") from a few confirmed masks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ml.coldstart import ColdStartParams, point_prompt_masks

DEFAULT_GRID: tuple[float, ...] = tuple(round(0.10 + 0.05 * i, 2) for i in range(9))  # 0.10, 0.15, ..., 0.50
# The app's grid: other sensors' annotators draw much wider (alpha near 0.05) or tighter (0.6) than SIRST's 0.35;
# a grid that stops at 0.10 picked its bottom edge on such data. Denser at the low end, where the mask grows fast.
WIDE_GRID: tuple[float, ...] = (
    0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.16, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60, 0.70
)  # fmt: skip
_TIE = 1e-12


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen alpha (and GrabCut toggle) with the pooled IoU of every tried setting."""

    best_alpha: float
    table: list[dict]
    n_images: int
    n_targets: int
    best_use_grabcut: bool = True
    best_size_rule: bool | None = None  # None: the size rule was not compared (left as in `params`)


def calibrate_alpha(
    samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    grid: Sequence[float] = DEFAULT_GRID,
    params: ColdStartParams | None = None,
    compare_grabcut: bool = True,
    compare_size_rule: bool = False,
) -> CalibrationResult:
    """Pick the alpha whose union masks have the highest dataset-level (pooled) IoU.

    Args:
        samples: (image, points (N, 2) in (x, y), ground-truth union mask bool (H, W)) per image.
        grid: alphas to try.
        params: base settings; only ``alpha`` (and ``use_grabcut`` when compared) vary.
        compare_grabcut: also try the other GrabCut setting and pick the best (alpha, GrabCut) pair.
        compare_size_rule: also try the size rule on and off (``params.size_alpha_factor`` or 0.7 when on).

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
    base_rule = base.size_alpha_factor is not None
    rules = [base_rule, not base_rule] if compare_size_rule else [base_rule]
    factor_on = base.size_alpha_factor if base_rule else ColdStartParams().size_alpha_factor
    table = []
    for rule in rules:
        for use_gc in toggles:
            for alpha in grid:
                p = dataclasses.replace(
                    base, alpha=float(alpha), use_grabcut=use_gc, size_alpha_factor=factor_on if rule else None
                )
                row = {"alpha": float(alpha), "use_grabcut": use_gc, "iou": _pooled_iou(data, p)}
                if compare_size_rule:
                    row["size_rule"] = rule
                table.append(row)

    def rank(row: dict) -> tuple[float, float, int, int]:
        return (
            -round(row["iou"] / _TIE),
            abs(row["alpha"] - base.alpha),
            row["use_grabcut"] != base.use_grabcut,
            row.get("size_rule", base_rule) != base_rule,
        )

    best = min(table, key=rank)
    return CalibrationResult(
        best_alpha=best["alpha"],
        table=table,
        n_images=len(data),
        n_targets=sum(len(pts) for _, pts, _ in data),
        best_use_grabcut=best["use_grabcut"],
        best_size_rule=best.get("size_rule"),
    )


def _pooled_iou(data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], params: ColdStartParams) -> float:
    inter = union = 0
    for img, pts, gt in data:
        pred = point_prompt_masks(img, pts, params).union()
        inter += int(np.count_nonzero(pred & gt))
        union += int(np.count_nonzero(pred | gt))
    return inter / union if union else 1.0
