"""Pooled IoU, Pd (< 3 px centroid match), Fat and Fa on hand-made cases with known answers."""

import numpy as np
import pytest

from ml.metrics import SegmentationMetrics, evaluate_masks


def _mask(shape, *boxes):
    m = np.zeros(shape, dtype=bool)
    for y0, y1, x0, x1 in boxes:
        m[y0:y1, x0:x1] = True
    return m


def test_perfect_prediction():
    gt = _mask((10, 10), (2, 4, 2, 4))
    r = evaluate_masks([gt], [gt])
    assert (r["iou"], r["pd"], r["fat"], r["fa"]) == (100.0, 100.0, 0.0, 0.0)


def test_iou_is_pooled_over_images_not_averaged():
    gt1, pr1 = _mask((10, 10), (0, 2, 0, 2)), _mask((10, 10), (0, 2, 0, 1))  # 2/4
    gt2 = _mask((10, 10), (0, 6, 0, 6))  # 36/36
    r = evaluate_masks([pr1, gt2], [gt1, gt2])
    assert r["iou"] == pytest.approx(100 * 38 / 40)


def test_pd_uses_a_strict_three_pixel_centroid_distance():
    gt = _mask((20, 20), (5, 6, 5, 6))
    near = _mask((20, 20), (5, 6, 7, 8))  # 2 px away
    far = _mask((20, 20), (5, 6, 8, 9))  # exactly 3 px: not matched
    assert evaluate_masks([near], [gt])["pd"] == 100.0
    r = evaluate_masks([far], [gt])
    assert r["pd"] == 0.0 and r["fat"] == 100.0
    assert r["fa"] == pytest.approx(1e6 * 1 / 400)


def test_fat_counts_unmatched_predicted_components_per_gt_target():
    gt = _mask((30, 30), (2, 4, 2, 4), (20, 22, 20, 22))
    pred = _mask((30, 30), (2, 4, 2, 4), (10, 13, 10, 13), (25, 26, 2, 3))
    r = evaluate_masks([pred], [gt])
    assert r["pd"] == 50.0
    assert r["fat"] == 100.0  # 2 false components / 2 targets
    assert r["fa"] == pytest.approx(1e6 * (9 + 1) / 900)
    assert r["n_targets"] == 2


def test_one_prediction_matches_at_most_one_target():
    gt = _mask((20, 20), (5, 6, 5, 6), (5, 6, 7, 8))  # two targets 2 px apart
    pred = _mask((20, 20), (5, 6, 5, 8))  # one merged component between them
    r = evaluate_masks([pred], [gt])
    assert r["pd"] == 50.0 and r["fat"] == 0.0


def test_accumulator_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differs"):
        SegmentationMetrics().update(np.zeros((3, 3)), np.zeros((3, 4)))
