"""Point prompts: floored centroids and coarse points (on the mask, deterministic)."""

import numpy as np

from ml.points import centroid_points, coarse_points


def test_centroid_is_floored_per_8_connected_component():
    m = np.zeros((12, 12), dtype=bool)
    m[1:3, 1:3] = True  # centroid (1.5, 1.5) -> (1, 1)
    m[3, 3] = True  # touches diagonally: same 8-connected component
    m[8:11, 7:9] = True  # centroid x 7.5, y 9 -> (7, 9)
    pts = centroid_points(m)
    assert len(pts) == 2
    cx = (1 + 2 + 1 + 2 + 3) / 5
    assert pts[0].tolist() == [np.floor(cx), np.floor(cx)]
    assert pts[1].tolist() == [7.0, 9.0]


def test_centroid_of_a_thin_arc_can_fall_off_the_mask():
    m = np.zeros((10, 10), dtype=bool)
    m[1, 1:9] = True
    m[1:9, 1] = True
    x, y = centroid_points(m)[0].astype(int)
    assert not m[y, x]


def test_coarse_points_are_on_the_mask_and_deterministic():
    m = np.zeros((40, 40), dtype=bool)
    m[5:15, 5:17] = True
    m[25:28, 30:33] = True
    a = coarse_points(m, np.random.default_rng(7))
    b = coarse_points(m, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    for x, y in a.astype(int):
        assert m[y, x]


def test_coarse_points_jitter_around_the_centroid():
    m = np.zeros((60, 60), dtype=bool)
    m[10:50, 10:50] = True
    rng = np.random.default_rng(1)
    pts = np.array([coarse_points(m, rng)[0] for _ in range(200)])
    assert pts.std(axis=0).min() > 2.0  # sigma = 40/8 = 5 px
    assert np.abs(pts.mean(axis=0) - 29.5).max() < 1.5


def test_empty_mask_gives_no_points():
    m = np.zeros((5, 5), dtype=bool)
    assert centroid_points(m).shape == (0, 2)
    assert coarse_points(m, np.random.default_rng(0)).shape == (0, 2)
