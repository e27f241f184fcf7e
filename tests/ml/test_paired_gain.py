"""The shadow rule's statistics: per-frame counts that pool exactly, and the paired sign-flip test."""

import numpy as np
import pytest

from ml.metrics import accumulate, frame_counts, min_frames_for, paired_gain_test, pooled_figures


def _masks(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = np.zeros((32, 32), bool)
    gt[8:12, 8:12] = gt[20:23, 18:22] = True
    pred = np.roll(gt, int(rng.integers(-1, 2)), axis=1)
    pred[rng.integers(0, 32), rng.integers(0, 32)] = True  # a stray false alarm
    return pred, gt


def test_per_frame_counts_pool_into_the_dataset_figures():
    pairs = [_masks(s) for s in range(6)]
    rows = [frame_counts(p, g) for p, g in pairs]
    expected = accumulate([p for p, _ in pairs], [g for _, g in pairs]).result()
    assert pooled_figures(rows) == pytest.approx(expected)


def test_twenty_points_on_five_frames_is_sure_on_four_it_cannot_be():
    assert min_frames_for(0.95) == 5 and min_frames_for(0.99) == 7
    five = paired_gain_test([60] * 5, [100] * 5, [40] * 5, [100] * 5, 0.95)
    assert five["significant"] and five["p_value"] == pytest.approx(1 / 32) and five["gain"] == pytest.approx(20)
    four = paired_gain_test([60] * 4, [100] * 4, [40] * 4, [100] * 4, 0.95)
    assert not four["significant"] and four["p_value"] == pytest.approx(1 / 16)


def test_a_worse_or_equal_generator_is_never_significant():
    worse = paired_gain_test([40] * 12, [100] * 12, [60] * 12, [100] * 12, 0.95)
    assert worse["gain"] < 0 and not worse["significant"] and worse["losses"] == 12
    same = paired_gain_test([50] * 8, [100] * 8, [50] * 8, [100] * 8, 0.95)
    assert same["n"] == 0 and same["p_value"] == 1.0 and not same["significant"]


def test_a_small_gain_in_noise_needs_many_frames():
    rng = np.random.default_rng(3)  # a 1-point gain, 4 points of noise per frame
    union = rng.integers(20, 200, 300).astype(float)
    base = rng.uniform(0.4, 0.8, 300)
    a = np.round(union * (base + 0.01 + rng.normal(0, 0.04, 300)))
    b = np.round(union * (base + rng.normal(0, 0.04, 300)))
    assert not paired_gain_test(a[:10], union[:10], b[:10], union[:10])["significant"]
    assert paired_gain_test(a, union, b, union)["significant"]  # 300 frames (random sign patterns past 16)


def test_the_pooled_statistic_weighs_frames_by_their_pixels():
    # One big frame where a loses 30 points outweighs three small ones where it wins 10.
    res = paired_gain_test([30, 6, 6, 6], [100, 10, 10, 10], [60, 5, 5, 5], [100, 10, 10, 10])
    assert res["gain"] < 0 and res["wins"] == 3 and not res["significant"]


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="same frames"):
        paired_gain_test([1], [2], [1, 2], [2, 3])
    with pytest.raises(ValueError, match="confidence"):
        paired_gain_test([1], [2], [1], [2], confidence=1.0)


def test_touching_targets_count_one_by_one_and_a_swallowing_mask_is_merged():
    from ml.metrics import instance_counts

    a, b = np.zeros((20, 20), bool), np.zeros((20, 20), bool)
    a[5:9, 5:9], b[5:9, 9:13] = True, True  # two touching targets: one blob in the union
    points = np.array([[6.0, 6.0], [10.0, 6.0]])
    good = instance_counts([a, b], [a, b], points)
    assert (good["n_targets"], good["n_matched"], good["n_false"], good["n_merged"]) == (2, 2, 0, 0)
    assert good["inter"] == good["union"] == 32
    swallow = instance_counts([a | b, np.zeros_like(b)], [a, b], points)  # the first mask took both targets
    assert (swallow["n_matched"], swallow["n_merged"]) == (1, 1) and swallow["inter"] == 32  # b was missed
    stray = a.copy()
    stray[15:17, 15:17] = True  # a second piece far from its target
    res = instance_counts([stray, b], [a, b], points)
    assert (res["n_matched"], res["n_false"], res["false_pixels"]) == (2, 1, 4)
