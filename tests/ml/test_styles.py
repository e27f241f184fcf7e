"""Label styles: per-target dilation/erosion that never merges targets, and a monotone style -> alpha table."""

import cv2
import numpy as np
import pytest

from ml.points import label_components
from ml.styles import STYLES, restyle_mask, style_alpha_table


def _two_close_targets() -> np.ndarray:
    m = np.zeros((32, 34), dtype=bool)
    m[8:11, 6:9] = True
    m[8:11, 11:14] = True  # 2 px gap: one dilation step each would make them touch
    m[18:22, 20:27] = True
    m[2:4, 28:30] = True  # 2x2: erosion would erase it
    return m


@pytest.mark.parametrize("d", [1, 2, 3])
def test_dilation_grows_every_target_but_never_merges_two(d):
    m = _two_close_targets()
    out = restyle_mask(m, d)
    assert label_components(out)[0] == label_components(m)[0] == 4
    assert (out & m).sum() == m.sum()  # nothing removed
    square = cv2.dilate(m.astype(np.uint8), np.ones((2 * d + 1,) * 2, np.uint8)) > 0
    assert not (out & ~square).any()  # at most d px (chessboard) from the original
    big = np.zeros_like(m)
    big[18:22, 20:27] = True
    assert (out & (cv2.dilate(big.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)).sum() == (4 + 2 * d) * (7 + 2 * d)


def test_erosion_keeps_targets_it_would_erase():
    m = _two_close_targets()
    out = restyle_mask(m, -1)
    assert out[2:4, 28:30].all()  # a 2x2 target would vanish: kept as it was
    assert out[8:11, 6:9].sum() == 1 and out[9, 7]  # a 3x3 one keeps its centre
    assert out[18:22, 20:27].sum() == 2 * 5 and not out[18, 20]  # the 4x7 one loses its rim
    assert label_components(out)[0] == 4


def test_no_style_is_a_copy():
    m = _two_close_targets()
    out = restyle_mask(m, 0)
    assert np.array_equal(out, m) and out is not m


def _project(n_images: int = 6, seed: int = 7) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Gaussian targets whose masks were drawn at the default alpha's iso-contour (0.35 of the peak)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64].astype(np.float64)
    out = []
    for _ in range(n_images):
        clean, gt, pts = np.full((64, 64), 50.0), np.zeros((64, 64), dtype=bool), []
        for cx, cy in ((14, 16), (46, 20), (30, 48)):
            cx, cy = cx + int(rng.integers(-3, 4)), cy + int(rng.integers(-3, 4))
            amp, sigma = rng.uniform(80, 180), rng.uniform(1.5, 3.0)
            bump = amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
            clean += bump
            gt |= bump >= 0.35 * amp
            pts.append((cx, cy))
        img = np.clip(np.rint(clean + rng.normal(0, 1.0, clean.shape)), 0, 255).astype(np.uint8)
        out.append((img, np.array(pts, dtype=np.float64), gt))
    return out


def test_style_table_is_monotone_wider_labels_lower_alpha():
    table = style_alpha_table(_project())
    assert set(table) == set(STYLES)
    assert table["erode1"] > 0.35 > table["dilate1"] > table["dilate2"] > table["dilate3"], table


def test_styles_the_prior_cannot_tell_apart_are_left_out():
    from ml.styles import distinct_styles

    sirst = {"erode1": 0.7, "dilate1": 0.16, "dilate2": 0.07, "dilate3": 0.07}  # SIRST train's table
    assert distinct_styles(sirst, 0.35) == ["erode1", "dilate1", "dilate2"]
    assert distinct_styles({**sirst, "dilate3": 0.05}, 0.35) == list(STYLES)
    assert distinct_styles({**sirst, "erode1": 0.3, "dilate1": 0.35}, 0.35) == ["dilate2"]
