"""Point prompts: floored centroids and coarse points (on the mask, deterministic); clicks' shares of a mask."""

import numpy as np
import pytest

from ml.points import centroid_points, coarse_points, jitter_points, point_cells


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


def _touching_pair() -> np.ndarray:
    m = np.zeros((40, 40), dtype=bool)
    m[18:23, 14:19] = True  # two 5x5 targets side by side: one 8-connected component
    m[18:23, 19:24] = True
    return m


def test_point_cells_split_a_touching_pair_between_its_clicks():
    cells = point_cells(_touching_pair(), np.array([[16.0, 20.0], [21.0, 20.0]]))
    assert cells.points.tolist() == [[16.0, 20.0], [21.0, 20.0]]  # no extra prompt: both halves clicked
    assert (cells.owner == 1).sum() == (cells.owner == 2).sum() == 25
    assert cells.owner[20, 14] == 1 and cells.owner[20, 23] == 2
    assert cells.sides.tolist() == [[5, 5], [5, 5]]


def test_point_cells_prompt_an_unclicked_target_and_snap_a_click_just_off_the_mask():
    m = _touching_pair()
    m[2:5, 30:33] = True  # nobody clicked this one
    cells = point_cells(m, np.array([[16.0, 17.0], [21.0, 20.0]]))  # the first click is 1 px above the mask
    assert len(cells.points) == 3 and cells.points[2].tolist() == [31.0, 3.0]
    assert (cells.owner == 3).sum() == 9 and cells.owner[18, 14] == 1  # the off-mask click still owns its half
    assert ((cells.owner == 1) | (cells.owner == 2)).sum() == 50
    with pytest.raises(ValueError, match=r"point 0 \(x=45"):
        point_cells(m, np.array([[45.0, 3.0]]))


def test_jittered_clicks_stay_on_their_own_target():
    cells = point_cells(_touching_pair(), np.array([[16.0, 20.0], [21.0, 20.0]]))
    rng = np.random.default_rng(0)
    moved = 0
    for _ in range(200):
        pts = jitter_points(cells, rng)
        for i, (x, y) in enumerate(pts.astype(int)):
            assert cells.owner[y, x] == i + 1
        moved += int((pts != cells.points).any())
    assert moved > 100  # they do move
