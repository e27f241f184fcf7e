"""Pooled IoU, Pd (< 3 px centroid match), Fat and Fa on hand-made cases with known answers."""

import numpy as np
import pytest

from ml.metrics import (
    SegmentationMetrics,
    accumulate,
    evaluate_masks,
    iou_gain_bootstrap,
    iou_gain_interval,
    iou_interval,
)


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


def _counts(inter, union):
    acc = SegmentationMetrics()
    acc.image_inter, acc.image_union = list(inter), list(union)
    return acc


def test_accumulator_keeps_per_image_counts_that_sum_to_the_pooled_iou():
    gt1, pr1 = _mask((10, 10), (0, 2, 0, 2)), _mask((10, 10), (0, 2, 0, 1))
    gt2 = _mask((10, 10), (0, 6, 0, 6))
    acc = accumulate([pr1, gt2], [gt1, gt2])
    assert (acc.image_inter, acc.image_union) == ([2, 36], [4, 36])
    assert acc.result()["iou"] == pytest.approx(100 * sum(acc.image_inter) / sum(acc.image_union))


def test_bootstrap_is_sure_of_a_gain_seen_on_every_image():
    rng = np.random.default_rng(3)
    union = rng.integers(20, 200, 40)
    better = _counts((union * 0.85).astype(int), union)
    worse = _counts((union * 0.80).astype(int), union)
    out = iou_gain_bootstrap(better, worse)
    assert out["gain"] == pytest.approx(100 * (sum(better.image_inter) - sum(worse.image_inter)) / union.sum())
    assert 0 < out["lower"] < out["gain"] and out["p_better"] == 1.0 and out["n_images"] == 40
    flipped = iou_gain_bootstrap(worse, better)
    assert flipped["gain"] == pytest.approx(-out["gain"]) and flipped["lower"] < 0 and flipped["p_better"] == 0.0


def test_bootstrap_is_not_sure_of_a_small_gain_that_one_large_target_carries():
    """Wins and losses that cancel but for one large frame: the point estimate is positive, the bound is not."""
    union = [30] * 47 + [400]
    a_inter = [24, 21] * 23 + [24] + [340]
    b_inter = [21, 24] * 23 + [24] + [330]
    out = iou_gain_bootstrap(_counts(a_inter, union), _counts(b_inter, union))
    assert 0 < out["gain"] < 1.0
    assert out["lower"] < 0 < out["p_better"] < 0.95
    loose = iou_gain_bootstrap(_counts(a_inter, union), _counts(b_inter, union), confidence=0.5)
    assert loose["lower"] > out["lower"]


def test_bootstrap_is_reproducible_and_refuses_unpaired_input():
    a, b = _counts([5, 6, 7], [10, 10, 10]), _counts([4, 6, 8], [10, 10, 10])
    assert iou_gain_bootstrap(a, b, seed=1) == iou_gain_bootstrap(a, b, seed=1)
    with pytest.raises(ValueError, match="same images"):
        iou_gain_bootstrap(a, _counts([1], [2]))
    with pytest.raises(ValueError, match="confidence"):
        iou_gain_bootstrap(a, b, confidence=1.0)


def test_the_iou_interval_holds_the_pooled_iou_and_narrows_with_more_frames():
    rng = np.random.default_rng(0)
    union = rng.integers(20, 200, 400)
    inter = (union * rng.uniform(0.4, 0.9, 400)).astype(int)
    pooled = 100.0 * inter.sum() / union.sum()
    few, many = iou_interval(inter[:20], union[:20]), iou_interval(inter, union)
    assert few[0] < pooled < few[1] and many[0] < pooled < many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 2  # 20x the frames: about a quarter of the width
    assert iou_interval([5, 5], [10, 10]) == (50.0, 50.0)  # identical frames: no spread
    with pytest.raises(ValueError, match="confidence"):
        iou_interval([1], [2], confidence=1.0)


def test_the_gain_interval_is_paired_a_constant_gain_on_varied_frames_is_sure():
    rng = np.random.default_rng(1)
    gts = [rng.random((16, 16)) < rng.uniform(0.05, 0.5) for _ in range(30)]
    better = accumulate(gts, gts)  # perfect on every frame
    worse = accumulate([g & (rng.random(g.shape) < 0.8) for g in gts], gts)
    gain, low, high = iou_gain_interval(better, worse)
    assert low <= gain <= high and low > 0
    gain, low, high = iou_gain_interval(worse, better)
    assert high < 0
