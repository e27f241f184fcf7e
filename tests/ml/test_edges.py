"""Edge maps: central differences (the reference code's) and Sobel, with replicate borders."""

import numpy as np
import pytest

from ml.edges import compute_edges


def test_ramp_gives_its_slope_in_the_interior_and_at_borders():
    img = np.tile(np.arange(10, dtype=np.float32) * 3.0, (6, 1))
    e = compute_edges(img, "central")
    assert e[3, 5] == pytest.approx(6.0, abs=1e-3)  # central difference spans 2 px: 2 * slope
    assert e[0, 5] == pytest.approx(6.0, abs=1e-3)  # no false edge on the top border
    assert e[3, 0] == pytest.approx(3.0, abs=1e-3)  # replicate pad: one-sided difference


def test_sobel_is_scaled_like_central_on_a_ramp():
    img = np.tile(np.arange(10, dtype=np.float32), (8, 1)).T
    assert compute_edges(img, "sobel")[4, 4] == pytest.approx(compute_edges(img, "central")[4, 4], abs=1e-3)


def test_flat_image_has_no_edges_even_at_the_border():
    e = compute_edges(np.full((5, 7), 9.0, dtype=np.float32))
    assert e.max() == pytest.approx(1e-3, abs=1e-6)  # sqrt(1e-6)


def test_step_edge_sits_on_both_sides_of_the_step():
    img = np.zeros((5, 8), dtype=np.float32)
    img[:, 4:] = 1.0
    e = compute_edges(img)
    assert e[2, 3] == pytest.approx(1.0, abs=1e-3) and e[2, 4] == pytest.approx(1.0, abs=1e-3)
    assert e[2, 1] < 0.01 and e[2, 6] < 0.01


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="unknown edge kind"):
        compute_edges(np.zeros((3, 3)), "canny")
