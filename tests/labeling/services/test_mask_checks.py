"""The review flags about a mask's own point and shape: exact cases on small rasters (no database)."""

import numpy as np

from labeling.services.mask_checks import edited_mask_warnings, mask_point_warnings, point_pixel


def blob(h=32, w=40, *boxes) -> np.ndarray:
    out = np.zeros((h, w), bool)
    for y0, y1, x0, x1 in boxes:
        out[y0:y1, x0:x1] = True
    return out


def test_point_pixel_rounds_halves_up_like_the_canvas_and_clamps():
    assert point_pixel(10.5, 3.49, 32, 40) == (3, 11)  # Math.round(10.5) = 11 in the browser too
    assert point_pixel(-0.5, -0.4, 32, 40) == (0, 0)
    assert point_pixel(39.49, 31.49, 32, 40) == (31, 39)


def test_a_compact_mask_around_its_point_has_no_flag():
    mask = blob(32, 40, (9, 12, 9, 12))
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=9) == []


def test_erasing_the_points_pixel_is_point_outside():
    mask = blob(32, 40, (9, 12, 9, 12))
    mask[10, 10] = False
    assert mask_point_warnings(mask, 10, 10) == ["point_outside"]
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=9) == ["point_outside"]  # the ring still touches it


def test_a_stroke_away_from_the_point_is_disconnected():
    mask = blob(32, 40, (9, 12, 9, 12), (20, 24, 30, 38))  # the target's blob plus a stroke next to another target
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=9) == ["disconnected", "too_large"]
    only_far = blob(32, 40, (20, 22, 30, 36))  # everything painted elsewhere
    assert edited_mask_warnings(only_far, x=10, y=10, blob_area=None) == ["point_outside", "disconnected"]


def test_a_part_touching_the_points_neighbourhood_is_connected():
    mask = blob(32, 40, (9, 10, 9, 10), (11, 12, 11, 12))  # two pixels meeting the point's 3x3 only at its corners
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=None) == ["point_outside"]


def test_too_large_against_the_blob_and_the_projects_limit():
    mask = blob(32, 40, (5, 15, 5, 15))  # 100 px around (10, 10)
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=40) == []  # 2.5x the blob: a plausible correction
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=30) == ["too_large"]  # more than 3x
    assert edited_mask_warnings(mask, x=10, y=10, blob_area=None, large_area=99) == ["too_large"]
    small = blob(32, 40, (9, 13, 9, 13))  # 16 px from a 1-px blob: under blob + 16, not flagged
    assert edited_mask_warnings(small, x=10, y=10, blob_area=1) == []


def test_a_point_on_the_edge_between_pixels_touches_both():
    mask = blob(32, 40, (6, 7, 5, 6))  # the single pixel (row 6, col 5)
    assert mask_point_warnings(mask, 5.0, 6.5) == []  # between rows 6 and 7: Python rounds to 6, the browser to 7
    assert mask_point_warnings(mask, 4.5, 6.0) == []  # between columns 4 and 5
    assert mask_point_warnings(mask, 5.0, 7.5) == ["point_outside"]  # between rows 7 and 8: not touching
