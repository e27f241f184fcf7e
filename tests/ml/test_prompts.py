"""TEI Gaussian energy map: exact values, max-combination, empty and out-of-image points."""

import numpy as np
import pytest

from ml.prompts import check_points_inside, make_gaussian_map, point_pixels


def test_peak_is_one_at_the_point_and_half_at_two_pixels():
    g = make_gaussian_map(np.array([[10.0, 7.0]]), (20, 30))
    assert g.dtype == np.float32 and g.shape == (20, 30)
    assert g[7, 10] == pytest.approx(1.0)
    assert g[7, 12] == pytest.approx(0.5, abs=1e-6)
    assert g[9, 10] == pytest.approx(0.5, abs=1e-6)
    assert g[7, 13] == pytest.approx(2 ** (-9 / 4), abs=1e-6)
    assert g.max() == pytest.approx(1.0)


def test_float_point_between_pixels():
    g = make_gaussian_map(np.array([[4.5, 3.0]]), (8, 10))
    assert g[3, 4] == pytest.approx(g[3, 5])
    assert g[3, 4] == pytest.approx(2 ** (-0.25 / 4), abs=1e-6)


def test_points_combine_by_max_not_sum():
    pts = np.array([[5.0, 5.0], [7.0, 5.0]])
    g = make_gaussian_map(pts, (12, 12))
    assert g[5, 6] == pytest.approx(2 ** (-1 / 4), abs=1e-6)  # 1 px from both: max, not 2x
    assert g.max() == pytest.approx(1.0)


def test_empty_points_give_zeros():
    assert not make_gaussian_map(np.zeros((0, 2)), (5, 6)).any()
    assert not make_gaussian_map(None, (5, 6)).any()
    assert not make_gaussian_map([], (5, 6)).any()


def test_point_outside_the_map_keeps_its_tail():
    g = make_gaussian_map(np.array([[-2.0, 3.0]]), (7, 7))
    assert g[3, 0] == pytest.approx(0.5, abs=1e-6)


def test_bad_points_shape_raises():
    with pytest.raises(ValueError, match="shape"):
        make_gaussian_map(np.zeros((3, 3)), (5, 5))


def test_check_points_inside_names_image_and_point():
    check_points_inside(np.array([[0.0, 0.0], [9.4, 4.4]]), (5, 10), "img")
    with pytest.raises(ValueError, match=r"point 1 \(x=10, y=2\).*frame_7"):
        check_points_inside(np.array([[1.0, 1.0], [10.0, 2.0]]), (5, 10), "frame_7")


def test_point_pixels_rounds_to_nearest_pixel_row_col():
    rc = point_pixels(np.array([[2.4, 3.6], [0.5, 0.49]]), (10, 10))
    assert rc.tolist() == [[4, 2], [0, 1]]
