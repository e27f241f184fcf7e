"""The active claim order's score: each sign moves it the right way, and a frame the two generators draw
differently ranks above one they agree on."""

import numpy as np
import pytest

from ml.uncertainty import WEIGHTS, frame_uncertainty, low_margin_share, unprompted_share


def _disk(cx: int, cy: int, r: float, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


POINTS = np.array([[8.0, 8.0], [22.0, 20.0]])


def test_two_generators_that_agree_on_every_mask_score_zero():
    masks = [_disk(8, 8, 2), _disk(22, 20, 3)]
    result = frame_uncertainty(masks, [m.copy() for m in masks], [False, False], POINTS)
    assert result.score == 0.0 and result.parts == {"disagreement": 0.0, "warnings": 0.0} and result.n_points == 2


def test_disagreement_is_one_minus_the_iou_per_point_averaged():
    masks = [_disk(8, 8, 2), _disk(22, 20, 3)]
    other = [_disk(8, 8, 2), np.zeros((32, 32), bool)]  # the second target: nothing in common
    result = frame_uncertainty(masks, other, [False, False], POINTS)
    assert result.parts["disagreement"] == pytest.approx(0.5)
    wider = [_disk(8, 8, 3), _disk(22, 20, 3)]
    partial = frame_uncertainty(masks, wider, [False, False], POINTS)
    iou = masks[0].sum() / wider[0].sum()
    assert partial.parts["disagreement"] == pytest.approx((1 - iou) / 2, abs=1e-4)
    assert 0 < partial.score < result.score


def test_warnings_count_the_share_of_flagged_points():
    masks = [_disk(8, 8, 2), _disk(22, 20, 3)]
    result = frame_uncertainty(masks, masks, [True, False], POINTS)
    assert result.parts["warnings"] == 0.5
    expected = WEIGHTS["warnings"] * 0.5 / (WEIGHTS["warnings"] + WEIGHTS["disagreement"])
    assert result.score == pytest.approx(expected, abs=1e-4)


def test_a_component_with_no_point_in_its_box_counts_as_unprompted():
    binary = _disk(8, 8, 2) | _disk(22, 20, 3)
    assert unprompted_share(binary, POINTS) == 0.0
    binary |= _disk(27, 4, 1.5)  # nobody clicked there
    assert unprompted_share(binary, POINTS) == pytest.approx(1 / 3)


def test_margin_counts_pixels_near_the_threshold_around_the_masks():
    mask = _disk(16, 16, 3)
    sure = np.where(mask, 0.99, 0.01).astype(np.float32)
    assert low_margin_share(sure, [mask], 0.5) == 0.0
    unsure = np.full((32, 32), 0.45, np.float32)
    assert low_margin_share(unsure, [mask], 0.5) == 1.0
    assert low_margin_share(sure, [np.zeros((32, 32), bool)], 0.5) == 1.0  # every mask empty


def test_a_net_map_adds_its_signs_and_raises_an_unsure_frame():
    masks = [_disk(8, 8, 2), _disk(22, 20, 3)]
    union = masks[0] | masks[1]
    sure = np.where(union, 0.99, 0.01).astype(np.float32)
    unsure = np.where(union | _disk(27, 4, 1.5), 0.55, 0.3).astype(np.float32)
    calm = frame_uncertainty(masks, masks, [False, False], POINTS, sure, 0.5)
    worried = frame_uncertainty(masks, masks, [False, False], POINTS, unsure, 0.5)
    assert set(calm.parts) == {"disagreement", "warnings", "unprompted", "margin"}
    assert calm.score == 0.0 and worried.score > 0.2


def test_a_frame_without_points_scores_zero_and_mismatched_lists_are_refused():
    assert frame_uncertainty([], [], [], np.zeros((0, 2))).score == 0.0
    with pytest.raises(ValueError, match="2 points but 1 masks"):
        frame_uncertainty([_disk(8, 8, 2)], [_disk(8, 8, 2)], [False], POINTS)


def test_the_adapter_ranks_a_frame_the_generators_draw_differently_above_one_they_agree_on():
    from labeling import ml_adapter
    from tests.labeling.frames import blob_frame

    pixels, centres, _ = blob_frame(5)
    tight = ml_adapter.GeneratorSpec(alpha=0.35)
    loose = ml_adapter.GeneratorSpec(alpha=0.05)
    points = np.asarray(centres)
    same = ml_adapter.frame_uncertainty(pixels, points, tight, tight)
    different = ml_adapter.frame_uncertainty(pixels, points, tight, loose)
    assert same["score"] == 0.0 and same["points"] == "targets" and same["n_points"] == 2
    assert different["score"] > 0.0 and different["parts"]["disagreement"] > 0.0
    detected = ml_adapter.frame_uncertainty(pixels, None, tight, loose)
    assert detected["points"] == "detector" and detected["n_points"] >= 1
