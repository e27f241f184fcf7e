"""Normalisation independent of bit depth, padding to the stride, channel stacking."""

import numpy as np
import pytest

from ml.inputs import normalise_image, pad_to_multiple, stack_inputs
from ml.synthetic import make_synthetic_sample


def test_8bit_and_16bit_x257_normalise_identically(rng):
    img8, _ = make_synthetic_sample(rng, (40, 50))
    a = normalise_image(img8)
    b = normalise_image(img8.astype(np.uint16) * 257)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.dtype == np.float32


def test_offset_and_gain_do_not_change_the_result(rng):
    img = rng.normal(1000, 30, (30, 30))
    np.testing.assert_allclose(normalise_image(img), normalise_image(img * 7.5 + 123.0), atol=1e-5)


def test_robust_values_are_centred_and_bounded(rng):
    img, _ = make_synthetic_sample(rng, (64, 64))
    x = normalise_image(img)
    assert abs(float(np.median(x))) < 1e-6
    assert np.abs(x).max() <= 4.0 + 1e-4


def test_fixed_normalisation_matches_sirst_constants_and_rescales_16bit():
    img = np.array([[101, 255]], dtype=np.uint8)
    x = normalise_image(img, "fixed")
    assert x[0, 1] == pytest.approx((255 - 101.06385) / 34.61961, abs=1e-4)
    np.testing.assert_allclose(normalise_image(img.astype(np.uint16) * 257, "fixed"), x, atol=1e-4)


def test_constant_image_gives_zeros_not_nan():
    x = normalise_image(np.full((4, 4), 77, dtype=np.uint16))
    assert np.isfinite(x).all() and not x.any()


def test_pad_to_multiple_and_crop_back():
    a = np.arange(37 * 53, dtype=np.float32).reshape(37, 53)
    p = pad_to_multiple(a, 16)
    assert p.shape == (48, 64)
    np.testing.assert_array_equal(p[:37, :53], a)
    np.testing.assert_array_equal(p[40, :53], a[-1])  # edge replication, no step at the seam
    assert pad_to_multiple(np.zeros((2, 32, 16)), 16).shape == (2, 32, 16)


def test_stack_inputs_checks_shapes():
    assert stack_inputs(np.zeros((4, 5)), np.zeros((4, 5)), np.zeros((4, 5))).shape == (3, 4, 5)
    with pytest.raises(ValueError, match="differ in shape"):
        stack_inputs(np.zeros((4, 5)), np.zeros((5, 4)))
