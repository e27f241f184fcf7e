"""Carrying points to the next frame: each lands on its target's new peak; a lost target follows the others'
shift and is marked weak; nothing is searched beyond the radius."""

import numpy as np
import pytest

from ml.tracking import CarryParams, carry_points


def _frame(centres, size=64, seed=0, amplitude=3000.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    frame = 8000 + rng.normal(0, 20, (size, size))
    for cx, cy in centres:
        frame += amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.3**2))
    return np.clip(frame, 0, 65535).astype(np.uint16)


def test_each_point_moves_onto_its_targets_new_peak():
    old = np.array([[12.0, 14.0], [40.0, 20.0], [30.0, 48.0]])
    new = old + [[2.0, 1.0], [-1.0, 2.0], [1.0, -2.0]]
    carried = carry_points(_frame(new), old)
    assert carried.sure.all() and (carried.scores > 4).all()
    assert np.abs(carried.points - new).max() <= 0.5


def test_with_a_floor_a_lost_target_follows_the_common_shift_and_is_marked_weak():
    old = np.array([[12.0, 14.0], [40.0, 20.0], [30.0, 48.0]])
    shift = np.array([2.0, 1.0])
    frame = _frame((old + shift)[:2])  # the third target is gone
    carried = carry_points(frame, old, CarryParams(min_score=4.0))
    assert carried.sure.tolist() == [True, True, False]
    assert np.abs(carried.points[2] - (old[2] + shift)).max() <= 0.5


def test_nothing_beyond_the_radius_is_taken():
    old = np.array([[20.0, 20.0]])
    far = carry_points(_frame([[30.0, 20.0]]), old, CarryParams(radius=4, min_score=4.0))
    assert not far.sure[0] and np.allclose(far.points[0], old[0])  # no sure point: no common shift either
    near = carry_points(_frame([[30.0, 20.0]]), old, CarryParams(radius=12))
    assert near.sure[0] and abs(near.points[0][0] - 30.0) <= 0.5


def test_by_default_every_peak_is_followed_and_a_weak_one_is_marked_unsure():
    old = np.array([[12.0, 14.0], [40.0, 20.0]])
    frame = _frame([[13.0, 15.0]]) + _frame([[41.0, 21.0]], amplitude=60.0, seed=1) - 8000
    carried = carry_points(frame.astype(np.uint16), old)
    assert carried.sure.tolist() == [True, False]
    assert np.abs(carried.points[0] - [13.0, 15.0]).max() <= 0.5


def test_edges_empty_input_and_bad_radius():
    carried = carry_points(_frame([[1.0, 62.0]]), np.array([[0.0, 63.0]]))
    assert (carried.points >= 0).all() and (carried.points <= 63).all()
    assert carry_points(_frame([]), np.zeros((0, 2))).points.shape == (0, 2)
    with pytest.raises(ValueError, match="radius"):
        carry_points(_frame([]), np.zeros((1, 2)), CarryParams(radius=-1))


def test_a_mask_moved_with_its_point_loses_what_leaves_the_frame():
    from ml.tracking import shift_mask

    mask = np.zeros((6, 8), bool)
    mask[1:3, 1:4] = True
    moved = shift_mask(mask, 2.4, -0.6)  # rounded: 2 right, 1 up
    assert moved.sum() == 6 and moved[0:2, 3:6].all()
    assert shift_mask(mask, -2, 0).sum() == 4  # one column left the frame
    assert not shift_mask(mask, 9, 0).any() and (shift_mask(mask, 0, 0) == mask).all()


def test_the_fitted_tightness_redraws_the_previous_mask_on_the_next_frame():
    from ml.coldstart import point_prompt_masks
    from ml.tracking import fit_tightness, shift_mask

    old = np.array([[12.0, 14.0], [40.0, 20.0], [30.0, 48.0]])
    move = np.array([[2.0, 1.0], [-1.0, 2.0], [1.0, -2.0]])
    before, after = _frame(old, seed=1), _frame(old + move, seed=2)
    drawn = point_prompt_masks(before, old, alphas=[0.1, 0.7, None]).masks  # a wide, a tight, a plain mask
    hints = [shift_mask(m, dx, dy) for m, (dx, dy) in zip(drawn, move, strict=True)]
    fitted = fit_tightness(after, old + move, [hints[0], hints[1], None])
    assert fitted[2] is None  # no previous mask: nothing to follow
    assert fitted[0] < 0.35 < fitted[1]
    redrawn = point_prompt_masks(after, old + move, alphas=fitted).masks
    for k in (0, 1):
        iou = (redrawn[k] & hints[k]).sum() / (redrawn[k] | hints[k]).sum()
        plain = point_prompt_masks(after, old + move).masks[k]
        assert iou >= 0.8 and iou > (plain & hints[k]).sum() / (plain | hints[k]).sum()
    with pytest.raises(ValueError, match="2 hints for 3 points"):
        fit_tightness(after, old, hints[:2])
    assert fit_tightness(after, old, [None, np.zeros((64, 64), bool), None]) == [None, None, None]
    elsewhere = np.zeros((64, 64), bool)
    elsewhere[58:62, 2:6] = True  # a previous mask the target no longer lies in: nothing to follow
    assert fit_tightness(after, old + move, [elsewhere, None, None]) == [None, None, None]
