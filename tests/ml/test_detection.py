"""The candidate-target detector on synthetic frames with known targets, and the point-detection counts."""

import numpy as np
import pytest

from ml.detection import DetectorParams, contrast_map, detect_targets, noise_level
from ml.metrics import detection_counts, detection_matches


def frame(targets, shape=(96, 128), noise=2.0, base=100.0, dtype=np.float64, seed=0, sigma=1.2):
    """A noisy flat frame with Gaussian spots at (x, y, peak) and a bright straight edge (clutter, no target)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    img = base + rng.normal(0.0, noise, shape)
    img[:, w - 20 :] += 60.0  # a step edge: strong contrast on one side only, never a target
    for x, y, peak in targets:
        img += peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return img.astype(dtype)


def test_finds_every_small_target_strongest_first_and_not_the_edge():
    img = frame([(20, 20, 40.0), (60, 50, 80.0), (90, 75, 35.0)])
    found = detect_targets(img)
    assert found.points.shape == (3, 2) and found.scores.shape == (3,)
    assert np.all(np.diff(found.scores) <= 0)  # strongest first
    assert [tuple(p) for p in found.points] == [(60.0, 50.0), (20.0, 20.0), (90.0, 75.0)]  # (x, y) order
    assert np.all(found.scores >= DetectorParams().k)


def test_the_same_frame_in_16_bits_gives_the_same_candidates():
    targets = [(20, 20, 40.0), (60, 50, 80.0)]
    eight = detect_targets(frame(targets).clip(0, 255).astype(np.uint8))
    sixteen = detect_targets((frame(targets) * 97.0 + 3000.0).astype(np.uint16))  # another gain and offset
    np.testing.assert_array_equal(eight.points, sixteen.points)
    np.testing.assert_allclose(eight.scores, sixteen.scores, rtol=0.05)


def test_a_pure_noise_frame_proposes_nothing_and_a_flat_one_neither():
    assert len(detect_targets(frame([], seed=4)).points) == 0
    flat = detect_targets(np.full((40, 50), 1234, np.uint16))
    assert flat.points.shape == (0, 2) and flat.scores.shape == (0,)


def test_a_faint_target_is_below_the_threshold_and_k_lets_it_in():
    img = frame([(40, 40, 6.0)], seed=1)  # ~3 noise levels high: lost in the noise at the default k
    assert len(detect_targets(img).points) == 0
    assert [tuple(p) for p in detect_targets(img, DetectorParams(k=1.8)).points][:1] == [(40.0, 40.0)]


def test_nms_keeps_one_candidate_per_blob_and_the_cap_holds():
    img = frame([(30, 30, 60.0), (33, 30, 60.0)])  # two peaks 3 px apart read as one blob
    assert len(detect_targets(img, DetectorParams(nms_radius=4)).points) == 1
    many = frame([(10 + 12 * i, 40, 50.0) for i in range(8)])
    assert len(detect_targets(many).points) == DetectorParams().max_candidates
    assert len(detect_targets(many, DetectorParams(max_candidates=8)).points) == 8


def test_polarity_dark_finds_cold_targets():
    img = frame([(40, 40, -50.0)], seed=2)
    assert len(detect_targets(img).points) == 0
    assert [tuple(p) for p in detect_targets(img, DetectorParams(polarity="dark")).points] == [(40.0, 40.0)]


def test_rgb_input_and_bad_arguments():
    grey = frame([(40, 40, 50.0)])
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(detect_targets(rgb).points, detect_targets(grey).points)
    with pytest.raises(ValueError, match="polarity"):
        contrast_map(grey, (3,), polarity="hot")
    with pytest.raises(ValueError, match="scales"):
        contrast_map(grey, ())
    with pytest.raises(ValueError, match="shape"):
        detect_targets(np.zeros((4, 4, 2)))
    assert noise_level(np.zeros((8, 8))) > 0  # never a division by zero


def test_detection_counts_match_points_to_grown_targets():
    gt = np.zeros((20, 20), bool)
    gt[5:7, 5:7] = True  # target 1
    gt[14, 14] = True  # target 2
    points = np.array([[8.0, 8.0], [6.0, 6.0], [0.0, 19.0]])  # 2 px beside target 1, on it again, nowhere
    labels, n = detection_matches(points, gt)
    assert n == 2 and labels.tolist() == [1, 1, 0]
    assert detection_counts(points, gt) == {"n_targets": 2, "n_detected": 1, "n_false": 2, "n_candidates": 3}
    assert detection_counts(points, gt, margin=0)["n_detected"] == 1  # (6, 6) is on it: only (8, 8) misses
    assert detection_counts(np.zeros((0, 2)), gt) == {"n_targets": 2, "n_detected": 0, "n_false": 0, "n_candidates": 0}
