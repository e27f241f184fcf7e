"""The frozen validation split and the promotion gate's decision rule."""

import pytest

from labeling.choices import ImageStatus, Split
from labeling.models import Image
from labeling.services.validation import (
    MIN_VAL_IMAGES,
    confirmed_ids,
    gate_decide,
    images_assign_loop_split,
    loop_samples,
    loop_split_of,
)
from tests.labeling.loop.conftest import confirmed_image, loop_project

pytestmark = pytest.mark.django_db


def test_split_is_a_stable_hash_of_the_id_with_about_a_fifth_validating():
    splits = [loop_split_of(i) for i in range(1, 2001)]
    assert splits == [loop_split_of(i) for i in range(1, 2001)]
    share = splits.count(Split.VAL) / len(splits)
    assert 0.17 < share < 0.23


def test_assignment_is_made_once_and_never_moves():
    project, _ = loop_project(n_confirmed=6)
    confirmed_image(project, 99, status=ImageStatus.SUBMITTED)  # not confirmed: not in the loop
    assert images_assign_loop_split(project=project) == 6
    first = dict(Image.objects.filter(project=project).values_list("pk", "loop_split"))
    assert all(first[pk] == loop_split_of(pk) for pk, split in first.items() if split)
    # Someone (or an older hash) put an image in the other split: later assignments never move it.
    moved = Image.objects.filter(project=project).exclude(loop_split="").first()
    other = Split.TRAIN if moved.loop_split == Split.VAL else Split.VAL
    Image.objects.filter(pk=moved.pk).update(loop_split=other)
    for seed in range(100, 104):
        confirmed_image(project, seed)
    assert images_assign_loop_split(project=project) == 4
    assert Image.objects.get(pk=moved.pk).loop_split == other
    ids = confirmed_ids(project)
    assert sorted(ids[Split.TRAIN] + ids[Split.VAL]) == sorted(
        Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).values_list("pk", flat=True)
    )
    assert not set(ids[Split.TRAIN]) & set(ids[Split.VAL])


def test_samples_carry_the_human_points_and_confirmed_union_mask():
    project, _ = loop_project()
    image = confirmed_image(project, 5)
    (sample,) = loop_samples([image.pk])
    assert sample.pixels.shape == (48, 48) and sample.pixels.dtype.name == "uint16"
    assert sample.points.shape == (2, 2)
    for x, y in sample.points:
        assert sample.mask[int(y), int(x)]
    assert sample.mask.sum() == 2 * 21  # two radius-sqrt(5) disks of 21 pixels


SERVING = {"iou": 70.0, "pd": 99.0, "fat": 1.0, "fa": 5.0}
SURE = {"gain": 5.0, "lower": 1.2, "p_better": 0.99, "n_images": 12}


@pytest.mark.parametrize(
    ("candidate", "gain", "n_val", "promote", "words"),
    [
        ({"iou": 75.0, "pd": 99.0, "fat": 1.0}, SURE, 12, True, "promoted"),
        ({"iou": 75.0, "pd": 98.6, "fat": 1.4}, SURE, 12, True, "promoted"),  # within the 0.5-point tolerances
        ({"iou": 70.0, "pd": 100.0, "fat": 0.0}, {**SURE, "gain": 0.0, "lower": -1.0}, 12, False, "not better"),
        ({"iou": 70.3, "pd": 99.0, "fat": 1.0}, {**SURE, "gain": 0.3, "lower": -0.9}, 48, False, "not sure on 48"),
        ({"iou": 80.0, "pd": 98.0, "fat": 1.0}, SURE, 12, False, "Pd"),
        ({"iou": 80.0, "pd": 99.0, "fat": 2.0}, SURE, 12, False, "Fat"),
        ({"iou": 90.0, "pd": 100.0, "fat": 0.0}, SURE, MIN_VAL_IMAGES - 1, False, "too small"),
    ],
)
def test_gate_promotes_only_a_sure_iou_gain_without_losing_pd_or_fat(candidate, gain, n_val, promote, words):
    comparison = {"candidate": candidate, "serving": SERVING, "iou_gain": gain, "confidence": 0.95}
    decided, reason = gate_decide(comparison, n_val, pd_tolerance=0.5, fat_tolerance=0.5)
    assert decided is promote
    assert words in reason
