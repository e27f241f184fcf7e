"""target_add / target_move / target_delete / targets_replace: bounds, versions, mask invalidation."""

import math

import pytest

from labeling.choices import ImageStatus, MaskState, Role
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, Mask, Target
from labeling.services import target_add, target_delete, target_move, targets_replace
from tests.factories import ImageFactory, MaskFactory, TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(project):
    return ImageFactory(project=project)  # 24 x 16


def test_first_target_starts_the_image(image, annotator):
    target = target_add(image=image, x=-0.5, y=15.49, actor=annotator, tightness=0.3)
    image.refresh_from_db()
    assert (image.status, image.version) == (ImageStatus.IN_PROGRESS, 2)
    assert (target.x, target.y, target.tightness, target.created_by_id) == (-0.5, 15.49, 0.3, annotator.pk)
    assert AuditLog.objects.filter(action="target.add").count() == 1


@pytest.mark.parametrize(
    ("x", "y"), [(23.5, 1), (-0.51, 1), (1, 15.5), (math.nan, 1), (1, math.inf), ("1", 1), (None, 1), (True, 1)]
)
def test_target_add_refuses_points_outside(image, annotator, x, y):
    with pytest.raises(ApplicationError) as caught:
        target_add(image=image, x=x, y=y, actor=annotator)
    assert caught.value.status_code == 400
    assert not Target.objects.exists()


@pytest.mark.parametrize("tightness", [0, 1, 1.5, -0.1, "a"])
def test_target_add_refuses_bad_tightness(image, annotator, tightness):
    with pytest.raises(ApplicationError):
        target_add(image=image, x=1, y=1, actor=annotator, tightness=tightness)


def test_target_move_stale_version_changes_nothing(image, annotator):
    target = TargetFactory(image=image)
    target_move(target=target, actor=annotator, version=1, x=7.25)
    with pytest.raises(ConflictError) as caught:
        target_move(target=target, actor=annotator, version=1, x=9.0, y=9.0)
    assert caught.value.extra["current_version"] == 2
    target.refresh_from_db()
    assert (target.x, target.y, target.version) == (7.25, 4.0, 2)


def test_target_move_drops_predicted_mask(image, annotator):
    mask = MaskFactory(target=TargetFactory(image=image))
    target_move(target=mask.target, actor=annotator, version=1, x=10)
    assert not Mask.objects.filter(pk=mask.pk).exists()


@pytest.mark.parametrize("state", [MaskState.EDITED, MaskState.CONFIRMED])
def test_target_move_keeps_human_mask_with_warning(image, annotator, state):
    mask = MaskFactory(target=TargetFactory(image=image), state=state)
    target_move(target=mask.target, actor=annotator, version=1, y=10)
    mask.refresh_from_db()
    assert mask.warnings == ["point_moved", "point_outside"]  # the 3x3 mask is rows 3-5: row 10 is outside it
    assert mask.version == 2
    target_move(target=mask.target, actor=annotator, version=2, y=4)  # back inside: point_outside goes
    mask.refresh_from_db()
    assert (mask.warnings, mask.version) == (["point_moved"], 3)


def test_target_move_tightness_only(image, annotator):
    target = target_move(target=TargetFactory(image=image), actor=annotator, version=1, tightness=0.8)
    assert (target.tightness, target.version) == (0.8, 2)
    target = target_move(target=target, actor=annotator, version=2, tightness=None)
    assert target.tightness is None


def test_target_delete_confirmed_mask_needs_reviewer(image, annotator, reviewer):
    mask = MaskFactory(target=TargetFactory(image=image), state=MaskState.CONFIRMED)
    with pytest.raises(ApplicationError) as caught:
        target_delete(target=mask.target, actor=annotator)
    assert caught.value.status_code == 403
    target_delete(target=mask.target, actor=reviewer)
    assert not Target.objects.exists()
    assert AuditLog.objects.get(action="target.delete").data["mask"]["rle"] == mask.rle


def test_targets_replace_updates_adds_and_deletes(image, annotator):
    keep, moved, gone = (TargetFactory(image=image, x=i, y=i) for i in (1, 2, 3))
    moved_mask = MaskFactory(target=moved)
    points = [{"id": keep.pk, "x": 1, "y": 1}, {"id": moved.pk, "x": 8, "y": 2}, {"x": 3.5, "y": 3.5, "tightness": 0.2}]
    result = targets_replace(image=image, points=points, version=1, actor=annotator)
    assert [t.pk for t in result[:2]] == [keep.pk, moved.pk]
    assert set(Target.objects.values_list("x", "y")) == {(1, 1), (8, 2), (3.5, 3.5)}
    assert not Target.objects.filter(pk=gone.pk).exists()
    assert not Mask.objects.filter(pk=moved_mask.pk).exists()
    keep.refresh_from_db()
    assert keep.version == 1
    image.refresh_from_db()
    assert image.version == 2


def test_targets_replace_validates_everything_first(image, annotator):
    existing = TargetFactory(image=image)
    with pytest.raises(ApplicationError) as caught:
        targets_replace(image=image, points=[{"x": 1, "y": 1}, {"x": 99, "y": 1}], version=1, actor=annotator)
    assert "point 1" in caught.value.message
    assert list(Target.objects.values_list("pk", flat=True)) == [existing.pk]


def test_targets_replace_stale_version(image, annotator):
    target_add(image=image, x=1, y=1, actor=annotator)
    with pytest.raises(ConflictError):
        targets_replace(image=image, points=[], version=1, actor=annotator)
    assert Target.objects.count() == 1


def test_targets_replace_unknown_id(image, annotator):
    other = TargetFactory()
    with pytest.raises(ApplicationError):
        targets_replace(image=image, points=[{"id": other.pk, "x": 1, "y": 1}], version=1, actor=annotator)


def test_targets_replace_confirmed_mask_needs_reviewer(image, member):
    MaskFactory(target=TargetFactory(image=image), state=MaskState.CONFIRMED)
    with pytest.raises(ApplicationError) as caught:
        targets_replace(image=image, points=[], version=1, actor=member(Role.ANNOTATOR))
    assert caught.value.status_code == 403
    assert Target.objects.count() == 1
