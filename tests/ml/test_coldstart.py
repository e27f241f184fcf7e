"""Tests for the training-free cold-start generator (cold-start.md §5)."""

from __future__ import annotations

import dataclasses
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ml.coldstart import ColdStartParams, ColdStartResult, _Crop, _merge, point_prompt_masks
from ml.prior import coldstart_params_from_dict

LCG_ONLY = ColdStartParams(use_grabcut=False)
PLAIN = dataclasses.replace(LCG_ONLY, size_alpha_factor=None)  # one alpha for every blob (no size rule)
LCG_GC = ColdStartParams(use_grabcut=True)
BG, AMP, SIGMA = 60.0, 150.0, 2.0


def blob_image(
    size: int = 64, centers: tuple[tuple[int, int], ...] = ((32, 32),), amp: float = AMP, sigma: float = SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 Gaussian blobs (x, y centres) on a noisy background, and the noise-free float image."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    clean = np.full((size, size), BG)
    for cx, cy in centers:
        clean += amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    noisy = clean + np.random.default_rng(0).normal(0.0, 1.0, clean.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), clean


def pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array(xy, dtype=np.float64).reshape(-1, 2)


def components(mask: np.ndarray) -> int:
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1


@pytest.mark.parametrize("sigma", [SIGMA, 3.0])
@pytest.mark.parametrize("alpha", [0.2, 0.35, 0.6])
def test_gaussian_blob_matches_analytic_iso_contour(alpha: float, sigma: float) -> None:
    # sigma 3 also pins that the smallest window's ring lies on background: a +-4 window (ring on the
    # target's skirt) raises b and returns half the analytic area.
    img, _ = blob_image(sigma=sigma)
    mask = point_prompt_masks(img, pts((32, 32)), PLAIN, alphas=[alpha]).masks[0]
    # Analytic: AMP * exp(-r^2 / 2s^2) >= alpha * AMP  <=>  r <= s * sqrt(2 ln(1/alpha)).
    radius = sigma * np.sqrt(2 * np.log(1 / alpha))
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(xx - 32, yy - 32)
    expected = r <= radius
    wrong = mask ^ expected
    assert mask.sum() > 1
    assert np.all(np.abs(r[wrong] - radius) <= 1.0), f"pixels off the contour by > 1 px: {r[wrong]}"


@pytest.mark.parametrize("sigma", [1.2, 2.0, 6.0])
def test_size_rule_redoes_small_and_large_blobs_at_lower_alpha(sigma: float) -> None:
    # sigma 1.2: 9 px at alpha (< small_area); 2.0: 25 px (medium, untouched); 6.0: 122 px (>= large_area).
    img, _ = blob_image(size=96, centers=((48, 48),), sigma=sigma)
    plain = point_prompt_masks(img, pts((48, 48)), PLAIN).masks[0]
    lower = point_prompt_masks(img, pts((48, 48)), PLAIN, alphas=[LCG_ONLY.alpha * LCG_ONLY.size_alpha_factor])
    rule = point_prompt_masks(img, pts((48, 48)), LCG_ONLY).masks[0]
    area = int(plain.sum())
    if LCG_ONLY.small_area <= area < LCG_ONLY.large_area:
        np.testing.assert_array_equal(rule, plain)
    else:
        assert rule.sum() > area
        np.testing.assert_array_equal(rule, lower.masks[0])


def test_size_rule_small_blob_is_the_iso_contour_at_the_lower_alpha() -> None:
    img, _ = blob_image(sigma=1.2)
    mask = point_prompt_masks(img, pts((32, 32)), LCG_ONLY).masks[0]
    radius = 1.2 * np.sqrt(2 * np.log(1 / (LCG_ONLY.alpha * LCG_ONLY.size_alpha_factor)))
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(xx - 32, yy - 32)
    wrong = mask ^ (r <= radius)
    assert np.all(np.abs(r[wrong] - radius) <= 1.0)


@pytest.mark.parametrize("shelf", [28, 20])
def test_size_rule_refuses_a_redo_that_leaks(shelf: int) -> None:
    # A point target on a clutter shelf: at the lower alpha the 28-high shelf joins the blob (a leak, refused);
    # the 20-high shelf stays below both thresholds, so the redo is kept.
    yy, xx = np.mgrid[:64, :64].astype(np.float64)
    img = np.full((64, 64), 50.0)
    img[28:37, 22:43] += shelf
    img += 80 * np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / (2 * 0.8**2))
    img = np.rint(img + np.random.default_rng(0).normal(0, 0.5, img.shape)).astype(np.uint8)
    plain = point_prompt_masks(img, pts((32, 32)), PLAIN).masks[0]
    lower = point_prompt_masks(img, pts((32, 32)), PLAIN, alphas=[0.245]).masks[0]
    rule = point_prompt_masks(img, pts((32, 32)), LCG_ONLY).masks[0]
    assert plain.sum() < LCG_ONLY.small_area
    if shelf == 28:
        assert lower.sum() > 100 and lower.sum() > LCG_ONLY.small_growth * plain.sum()
        np.testing.assert_array_equal(rule, plain)
    else:
        np.testing.assert_array_equal(rule, lower)


def test_checkpoint_settings_without_the_size_rule_load_with_it_off() -> None:
    # Weights trained before the rule existed must keep seeing the prior they were trained with.
    assert coldstart_params_from_dict({"alpha": 0.35}).size_alpha_factor is None
    assert coldstart_params_from_dict({"alpha": 0.35, "size_alpha_factor": 0.7}).size_alpha_factor == 0.7
    assert coldstart_params_from_dict(None) == ColdStartParams()


def test_alpha_is_tightness() -> None:
    img, _ = blob_image()
    tight = point_prompt_masks(img, pts((32, 32)), LCG_ONLY, alphas=[0.6]).masks[0]
    loose = point_prompt_masks(img, pts((32, 32)), LCG_ONLY, alphas=[0.2]).masks[0]
    assert tight.sum() < loose.sum() and not (tight & ~loose).any()


@pytest.mark.parametrize("params", [LCG_ONLY, LCG_GC], ids=["lcg", "lcg+grabcut"])
def test_16_bit_scaling_gives_same_masks(params: ColdStartParams) -> None:
    img, _ = blob_image(centers=((20, 20), (40, 44)))
    p = pts((20, 20), (41, 43))
    r8 = point_prompt_masks(img, p, params)
    r16 = point_prompt_masks(img.astype(np.uint16) * 257, p, params)
    assert r16.union().dtype == bool and r8.union().sum() > 2
    for a, b in zip(r8.masks, r16.masks, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float_and_rgb_inputs_agree_with_uint8() -> None:
    img, _ = blob_image()
    ref = point_prompt_masks(img, pts((32, 32))).masks[0]
    np.testing.assert_array_equal(point_prompt_masks(img.astype(np.float32) / 255, pts((32, 32))).masks[0], ref)
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(point_prompt_masks(rgb, pts((32, 32))).masks[0], ref)


@pytest.mark.parametrize("params", [LCG_ONLY, LCG_GC], ids=["lcg", "lcg+grabcut"])
def test_two_close_blobs_two_clicks_two_instances(params: ColdStartParams) -> None:
    img, _ = blob_image(centers=((30, 32), (34, 32)), sigma=1.0)
    res = point_prompt_masks(img, pts((30, 32), (34, 32)), params)
    a, b = res.masks
    assert not (a & b).any()
    assert a[32, 30] and b[32, 34]
    assert components(a) == 1 and components(b) == 1
    np.testing.assert_array_equal(res.union(), a | b)


@pytest.mark.parametrize("params", [LCG_ONLY, LCG_GC], ids=["lcg", "lcg+grabcut"])
def test_two_close_blobs_one_click_one_target(params: ColdStartParams) -> None:
    img, _ = blob_image(centers=((30, 32), (34, 32)), sigma=1.0)
    res = point_prompt_masks(img, pts((30, 32)), params)
    assert len(res.masks) == 1
    assert res.masks[0][32, 30] and not res.masks[0][32, 34]


def test_merge_gives_contested_pixels_to_nearest_click() -> None:
    clicks = np.array([[5, 5], [5, 9]])  # (row, col)
    both = np.ones((11, 15), dtype=bool)  # each click claims the whole area, later one listed last
    a, b = _merge([_Crop(0, 0, both.copy()), _Crop(0, 0, both.copy())], clicks, (11, 15))
    cols = np.arange(15)[None, :].repeat(11, axis=0)
    assert not (a & b).any() and a[5, 5] and b[5, 9]
    assert np.all(cols[a] <= 7) and np.all(cols[b] > 7)  # column 7 is equidistant: the first click keeps it


@pytest.mark.parametrize("params", [LCG_ONLY, LCG_GC], ids=["lcg", "lcg+grabcut"])
def test_neighbouring_instances_never_touch(params: ColdStartParams) -> None:
    img, _ = blob_image(centers=((30, 32), (35, 32)), sigma=1.5)
    clicks = pts((30, 32), (35, 32))
    touching = point_prompt_masks(img, clicks, dataclasses.replace(params, separate=False), alphas=[0.2, 0.2])
    assert components(touching.union()) == 1  # without the gap the union reads as one target
    res = point_prompt_masks(img, clicks, params, alphas=[0.2, 0.2])
    a, b = res.masks
    assert components(res.union()) == 2 and a[32, 30] and b[32, 35]
    assert components(a) == 1 and components(b) == 1 and not (a & b).any()
    assert (a | b).sum() >= 0.75 * touching.union().sum()  # only pixels along the contact go


def test_separation_never_drops_a_click_pixel() -> None:
    img, _ = blob_image(centers=((30, 32),), sigma=2.0)
    res = point_prompt_masks(img, pts((30, 32), (31, 32)))  # adjacent clicks cannot be kept apart
    assert res.masks[0][32, 30] and res.masks[1][32, 31] and not (res.masks[0] & res.masks[1]).any()


def leak_image(target_col: int) -> np.ndarray:
    """A faint target beside a bright clutter band that runs to the left image border."""
    yy, xx = np.mgrid[:64, :64].astype(np.float64)
    img = np.full((64, 64), 50.0)
    img[20:41, : max(target_col - 1, 1)] = 80.0
    img += 50.0 * np.exp(-((xx - target_col) ** 2 + (yy - 30) ** 2) / 2.0)
    return np.rint(img).astype(np.uint8)


def test_blob_leaking_to_a_far_image_border_counts_as_a_leak() -> None:
    img = leak_image(14)
    leaky = point_prompt_masks(img, pts((14, 30)), dataclasses.replace(LCG_ONLY, edge_free=None)).masks[0]
    assert leaky[:, 0].any() and leaky.sum() > 100  # the old rule: an image edge is never a window edge
    mask = point_prompt_masks(img, pts((14, 30)), LCG_ONLY).masks[0]
    assert mask[30, 14] and not mask[:, 0].any() and mask.sum() <= 25


def test_target_on_the_image_border_may_touch_it() -> None:
    img, _ = blob_image(centers=((1, 32),))
    mask = point_prompt_masks(img, pts((1, 32)), LCG_ONLY).masks[0]
    ref = point_prompt_masks(img, pts((1, 32)), dataclasses.replace(LCG_ONLY, edge_free=None)).masks[0]
    assert mask[:, 0].any() and mask.sum() > 9
    np.testing.assert_array_equal(mask, ref)


def test_grabcut_intersection_trims_the_lcg_blob() -> None:
    img, _ = blob_image()
    lcg = point_prompt_masks(img, pts((32, 32)), LCG_ONLY, alphas=[0.15]).masks[0]
    both = point_prompt_masks(img, pts((32, 32)), dataclasses.replace(LCG_GC, gc_merge="intersection"), alphas=[0.15])
    assert both.masks[0][32, 32] and not (both.masks[0] & ~lcg).any()
    with pytest.raises(ValueError, match="gc_merge"):
        point_prompt_masks(img, pts((32, 32)), dataclasses.replace(LCG_GC, gc_merge="max"))


def test_merge_keeps_only_the_component_holding_the_click() -> None:
    claim = np.zeros((9, 9), dtype=bool)
    claim[1:4, 1:4] = claim[6:8, 6:8] = True
    (m,) = _merge([_Crop(10, 20, claim)], np.array([[12, 22]]), (30, 40))
    assert m.sum() == 9 and m[12, 22] and not m[16, 26]


@pytest.mark.parametrize("offset", [(2, 0), (0, -2), (2, 2), (-2, 1)])
def test_click_off_peak_equals_click_on_peak(offset: tuple[int, int]) -> None:
    img, _ = blob_image()
    on = point_prompt_masks(img, pts((32, 32))).masks[0]
    off = point_prompt_masks(img, pts((32 + offset[0], 32 + offset[1]))).masks[0]
    assert on.sum() > 9
    np.testing.assert_array_equal(on, off)


@pytest.mark.parametrize("kind", ["constant", "ramp"])
def test_click_on_flat_background_does_not_leak(kind: str) -> None:
    yy, xx = np.mgrid[:100, :100]
    img = np.full((100, 100), 90, np.uint8) if kind == "constant" else (1.5 * xx + yy).astype(np.uint8)
    # On a ramp the image corners are genuine local peaks, so only the constant image tests them.
    clicks = pts((50, 50), (10, 70), (0, 0), (99, 99)) if kind == "constant" else pts((50, 50), (10, 70), (80, 20))
    res = point_prompt_masks(img, clicks)
    assert all(res.fallback)
    for m, (x, y) in zip(res.masks, clicks.astype(int), strict=True):
        assert m[y, x] and m.sum() <= 9


def test_deterministic_byte_identical() -> None:
    img, _ = blob_image(centers=((20, 20), (40, 44), (44, 40)))
    clicks = pts((20, 21), (40, 44), (44, 40), (5, 60))
    a = point_prompt_masks(img, clicks)
    b = point_prompt_masks(img, clicks)
    assert a.union().any()
    assert [m.tobytes() for m in a.masks] == [m.tobytes() for m in b.masks] and a.fallback == b.fallback


def test_dark_target_auto_polarity() -> None:
    bright_img, _ = blob_image()
    img = 255 - bright_img  # the same target as a dip on a bright (~195) background
    auto = point_prompt_masks(img, pts((32, 32)), LCG_ONLY).masks[0]
    ref = point_prompt_masks(bright_img, pts((32, 32)), LCG_ONLY).masks[0]
    forced = point_prompt_masks(img, pts((32, 32)), dataclasses.replace(LCG_ONLY, polarity="bright"))
    assert ref.sum() > 9
    np.testing.assert_array_equal(auto, ref)
    assert forced.fallback[0] and forced.masks[0].sum() <= 9


def test_bright_target_stays_bright_under_auto() -> None:
    img, _ = blob_image()
    auto = point_prompt_masks(img, pts((34, 33))).masks[0]
    bright = point_prompt_masks(img, pts((34, 33)), ColdStartParams(polarity="bright")).masks[0]
    np.testing.assert_array_equal(auto, bright)


@pytest.mark.parametrize("bad", [(64, 3), (-1, 3), (3, 64.6), (np.nan, 3), (3, np.inf)])
def test_point_outside_or_not_finite_raises(bad: tuple[float, float]) -> None:
    img, _ = blob_image()
    with pytest.raises(ValueError, match="point 1"):
        point_prompt_masks(img, pts((3, 3), bad))


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="shape"):
        point_prompt_masks(np.zeros((4, 4, 2)), pts((1, 1)))
    with pytest.raises(ValueError, match="shape"):
        point_prompt_masks(np.zeros((8, 8)), np.zeros((2, 3)))


@pytest.mark.parametrize("empty", [np.zeros((0, 2)), np.array([])])
def test_empty_points(empty: np.ndarray) -> None:
    res = point_prompt_masks(np.zeros((7, 9), np.uint8), empty)
    assert isinstance(res, ColdStartResult)
    assert res.masks == [] and res.fallback == []
    assert res.union().shape == (7, 9) and not res.union().any()


def test_many_points_on_large_image_is_crop_local_and_fast() -> None:
    rng = np.random.default_rng(1)
    centers = tuple((int(x), int(y)) for x, y in rng.integers(40, 984, size=(30, 2)))
    yy, xx = np.mgrid[:1024, :1024].astype(np.float32)
    img = rng.normal(100, 2, (1024, 1024)).astype(np.float32)
    for cx, cy in centers:
        sl = np.s_[cy - 8 : cy + 9, cx - 8 : cx + 9]
        img[sl] += 120 * np.exp(-((xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2) / 4.5)
    t0 = time.perf_counter()
    res = point_prompt_masks(img, np.array(centers, dtype=np.float64))
    elapsed = time.perf_counter() - t0
    assert len(res.masks) == 30 and all(m[cy, cx] for m, (cx, cy) in zip(res.masks, centers, strict=True))
    assert elapsed < 3.0, f"30 points on 1024x1024 took {elapsed:.2f} s"


@st.composite
def image_and_points(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    elements = (
        st.floats(0, 1000, width=32) if dtype == np.float32 else st.integers(0, 255 if dtype == np.uint8 else 4000)
    )
    img = draw(arrays(dtype, (h, w), elements=elements))
    pixels = draw(
        st.lists(st.tuples(st.integers(0, w - 1), st.integers(0, h - 1)), min_size=1, max_size=6, unique=True)
    )
    jitter = draw(st.lists(st.floats(-0.49, 0.49), min_size=2 * len(pixels), max_size=2 * len(pixels)))
    points = np.array(pixels, dtype=np.float64) + np.array(jitter).reshape(-1, 2)
    return img, points


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=image_and_points(), alpha=st.sampled_from([0.1, 0.35, 0.8]), grabcut=st.booleans())
def test_property_one_component_per_point_and_disjoint(
    data: tuple[np.ndarray, np.ndarray], alpha: float, grabcut: bool
) -> None:
    img, points = data
    res = point_prompt_masks(img, points, ColdStartParams(alpha=alpha, use_grabcut=grabcut))
    assert len(res.masks) == len(points) == len(res.fallback)
    total = np.zeros(img.shape, dtype=np.int32)
    for m, (x, y) in zip(res.masks, np.rint(points).astype(int), strict=True):
        assert m.shape == img.shape and m.dtype == bool
        assert m[y, x], "instance misses its own point"
        assert components(m) == 1
        total += m
    assert total.max() <= 1, "instances overlap"
