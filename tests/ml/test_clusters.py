"""Dense clusters implanted into real-like frames: counts, labels, points, neighbours, no clipping, determinism."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.points import label_components
from ml.synthetic import implant_cluster, make_synthetic_sample


def _frame(seed: int, bit_depth: int = 8) -> tuple[np.ndarray, np.ndarray]:
    return make_synthetic_sample(np.random.default_rng(seed), (128, 128), 2, bit_depth)


def _near(mask: np.ndarray, px: int) -> np.ndarray:
    """Pixels within chessboard distance `px` of the mask."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1,) * 2, np.uint8)) > 0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 30), bit_depth=st.sampled_from([8, 16]))
def test_a_cluster_has_n_separate_labelled_targets_away_from_the_frame_s_own(seed, n, bit_depth):
    raw, mask = _frame(seed, bit_depth)
    out, labels, points = implant_cluster(raw, np.random.default_rng(seed), n, avoid=mask)
    assert out.dtype == raw.dtype and out.shape == raw.shape and labels.dtype == np.int32
    assert labels.max() == n and points.shape == (n, 2)
    assert set(np.unique(labels).tolist()) == set(range(n + 1))  # every instance non-empty
    assert not (_near(mask, 4) & (labels > 0)).any()  # at least 4 px from the frame's own targets
    for k in range(1, n + 1):
        inst = labels == k
        assert label_components(inst)[0] == 1  # one 8-connected piece
        ys, xs = np.nonzero(inst)
        assert points[k - 1].tolist() == [np.floor(xs.mean()), np.floor(ys.mean())]
        assert labels[int(points[k - 1, 1]), int(points[k - 1, 0])] == k  # the point lies in its own instance
        assert (_near(inst, 4) & (labels > 0) & ~inst).any()  # a neighbour touching or at most 3 px away
    far = ~_near(labels > 0, 12)
    assert np.array_equal(out[far], raw[far])  # only the cluster's surroundings change


def test_a_cluster_stays_min_gap_away_from_avoided_pixels():
    raw = np.random.default_rng(0).normal(100.0, 3.0, (100, 100)).round().astype(np.uint8)
    avoid = np.ones(raw.shape, bool)
    avoid[40:60] = False  # only this band is free: a compact cluster would spill out of it
    _, labels, _ = implant_cluster(raw, np.random.default_rng(4), 12, avoid=avoid)
    assert labels.max() == 12
    ys, _ = np.nonzero(labels)
    assert ys.min() >= 44 and ys.max() < 56


def test_dense_clusters_have_touching_neighbours():
    touching = 0
    for seed in range(5):
        raw, mask = _frame(seed)
        _, labels, _ = implant_cluster(raw, np.random.default_rng(seed), 15, avoid=mask)
        n_groups = label_components(labels > 0)[0]
        assert n_groups < 15  # some instances touch: their union has fewer pieces than targets
        touching += 15 - n_groups
    assert touching >= 25


def test_targets_vary_in_size_shape_and_contrast():
    raw, mask = _frame(1)
    elongated = 0
    for seed in (1, 2, 3):
        out, labels, _ = implant_cluster(raw, np.random.default_rng(seed), 25, avoid=mask)
        areas = np.bincount(labels.ravel())[1:]
        peaks = [float((out.astype(float) - raw)[labels == k].max()) for k in range(1, 26)]
        assert areas.max() >= 3 * areas.min()
        assert max(peaks) >= 2 * min(peaks) and min(peaks) > 0
        for k in np.nonzero(areas >= 6)[0] + 1:
            side = np.ptp(np.nonzero(labels == k), axis=1) + 1
            elongated += max(side) >= 2 * min(side)
    assert elongated >= 4  # 30 % are drawn stretched 1.5-2.5x; round ones alone give none here


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_an_integer_frame_is_never_clipped(dtype):
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(0)
    raw = np.full((96, 96), 20, dtype=np.float64)
    raw[:, 48:] = top - 25 if dtype == np.uint8 else top - 6000  # a bright half with little headroom
    raw = np.rint(raw + rng.normal(0, 1.0, raw.shape)).astype(dtype)
    dark_half = np.zeros(raw.shape, bool)
    dark_half[:, :44] = True  # the cluster must go onto the bright half
    out, labels, _ = implant_cluster(raw, np.random.default_rng(3), 8, avoid=dark_half)
    assert labels.max() == 8
    assert not ((out == top) & (raw < top)).any()  # no pixel reaches the maximum it did not have
    assert (out >= raw).all()
    diff = out.astype(np.float64) - raw
    assert all(diff[labels == k].max() >= 1 for k in range(1, 9))  # scaled down, still there


def test_a_cluster_is_a_function_of_the_rng():
    raw, mask = _frame(2)
    a = implant_cluster(raw, np.random.default_rng(7), 20, avoid=mask)
    b = implant_cluster(raw, np.random.default_rng(7), 20, avoid=mask)
    c = implant_cluster(raw, np.random.default_rng(8), 20, avoid=mask)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_a_float_frame_keeps_its_dtype():
    raw = np.random.default_rng(0).normal(300.0, 2.0, (64, 64)).astype(np.float32)
    out, labels, points = implant_cluster(raw, np.random.default_rng(0), 6)
    assert out.dtype == np.float32 and labels.max() == 6 and len(points) == 6


def test_bad_arguments_raise():
    raw, mask = _frame(0)
    with pytest.raises(ValueError, match="single-channel"):
        implant_cluster(np.zeros((8, 8, 3), np.uint8), np.random.default_rng(0), 5)
    with pytest.raises(ValueError, match="n_targets"):
        implant_cluster(raw, np.random.default_rng(0), 0)
    with pytest.raises(ValueError, match="avoid mask shape"):
        implant_cluster(raw, np.random.default_rng(0), 5, avoid=mask[:10])
