"""Tests for per-project alpha calibration of the cold start."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.calibration import DEFAULT_GRID, calibrate_alpha
from ml.coldstart import ColdStartParams


def synthetic_project(gt_alpha: float, n_images: int = 6) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Gaussian targets whose GT masks were drawn at b + gt_alpha * (v - b), like one annotator's style."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:64, :64].astype(np.float64)
    samples = []
    for _ in range(n_images):
        clean = np.full((64, 64), 50.0)
        gt = np.zeros((64, 64), dtype=bool)
        points = []
        for cx, cy in ((14, 16), (46, 20), (30, 48)):
            cx, cy = cx + int(rng.integers(-3, 4)), cy + int(rng.integers(-3, 4))
            amp, sigma = rng.uniform(80, 180), rng.uniform(1.2, 3.0)
            bump = amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
            clean += bump
            gt |= bump >= gt_alpha * amp
            points.append((cx, cy))
        img = np.clip(np.rint(clean + rng.normal(0, 1.0, clean.shape)), 0, 255).astype(np.uint8)
        samples.append((img, np.array(points, dtype=np.float64), gt))
    return samples


def test_default_grid() -> None:
    assert DEFAULT_GRID == (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


@pytest.mark.parametrize("gt_alpha", [0.2, 0.45])
def test_calibration_recovers_the_annotation_alpha(gt_alpha: float) -> None:
    res = calibrate_alpha(synthetic_project(gt_alpha))
    assert abs(res.best_alpha - gt_alpha) <= 0.05 + 1e-9, res.table
    assert res.n_images == 6 and res.n_targets == 18
    assert len(res.table) == 2 * len(DEFAULT_GRID)
    best = max(r["iou"] for r in res.table)
    chosen = next(r for r in res.table if r["alpha"] == res.best_alpha and r["use_grabcut"] == res.best_use_grabcut)
    assert chosen["iou"] == best and best > 0.8


def test_calibration_accepts_a_generator_and_a_custom_grid() -> None:
    samples = synthetic_project(0.2, n_images=2)
    res = calibrate_alpha((s for s in samples), grid=(0.2, 0.5), compare_grabcut=False)
    assert [r["alpha"] for r in res.table] == [0.2, 0.5]
    assert res.best_alpha == 0.2 and res.best_use_grabcut is ColdStartParams().use_grabcut


def test_ties_prefer_alpha_nearest_the_default() -> None:
    # A blank image with GT everywhere empty scores IoU 0 at every alpha: a full tie.
    img = np.zeros((20, 20), np.uint8)
    res = calibrate_alpha([(img, np.array([[10.0, 10.0]]), np.zeros((20, 20), bool))], grid=(0.1, 0.3, 0.5))
    assert res.best_alpha == 0.3 and res.best_use_grabcut == ColdStartParams().use_grabcut
    res = calibrate_alpha(
        [(img, np.array([[10.0, 10.0]]), np.zeros((20, 20), bool))],
        grid=(0.1, 0.3, 0.5),
        params=ColdStartParams(alpha=0.45),
    )
    assert res.best_alpha == 0.5


def test_calibration_recovers_a_dilated_annotation_style() -> None:
    """GT drawn one pixel wider than the default threshold gives: calibration picks a looser alpha."""
    samples = [
        (img, p, cv2.dilate(gt.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        for img, p, gt in synthetic_project(0.35)
    ]
    default = next(r for r in calibrate_alpha(samples, grid=(0.35,), compare_grabcut=False).table)
    res = calibrate_alpha(samples)
    chosen = max(r["iou"] for r in res.table)
    assert res.best_alpha < 0.35 and chosen > default["iou"] + 0.05, res.table


def test_calibration_needs_samples() -> None:
    with pytest.raises(ValueError, match="sample"):
        calibrate_alpha([])


def test_the_wide_grid_reaches_halo_styles_and_compares_the_size_rule() -> None:
    """Masks drawn three pixels wider than the iso-contour want an alpha below the old grid's 0.10 floor."""
    from ml.calibration import WIDE_GRID

    assert WIDE_GRID[0] <= 0.02 and WIDE_GRID[-1] >= 0.7
    samples = [
        (img, p, cv2.dilate(gt.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
        for img, p, gt in synthetic_project(0.35)
    ]
    narrow = calibrate_alpha(samples)
    wide = calibrate_alpha(samples, grid=WIDE_GRID, compare_size_rule=True)
    assert narrow.best_alpha == 0.10  # pinned at the edge of the old grid
    assert wide.best_alpha < 0.10 and wide.best_size_rule in (True, False)
    assert len(wide.table) == 2 * 2 * len(WIDE_GRID) and {r["size_rule"] for r in wide.table} == {True, False}
    best = max(r["iou"] for r in wide.table)
    assert best > max(r["iou"] for r in narrow.table)
