"""mask_replace / mask_confirm / mask_reject / mask_store_prediction."""

import numpy as np
import pytest

from labeling import storage
from labeling.choices import MaskSource, MaskState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Mask, MaskRevision
from labeling.services import mask_confirm, mask_reject, mask_replace, mask_store_prediction
from tests.factories import MaskFactory, ModelVersionFactory, TargetFactory

pytestmark = pytest.mark.django_db


def raster(image, x0=2, y0=3, w=4, h=2) -> np.ndarray:
    out = np.zeros((image.height, image.width), bool)
    out[y0 : y0 + h, x0 : x0 + w] = True
    return out


@pytest.fixture
def target(project):
    return TargetFactory(image__project=project)


def test_mask_replace_creates_when_absent(target, annotator):
    mask = mask_replace(target=target, raster=raster(target.image), version=0, actor=annotator)
    assert (mask.source, mask.state, mask.version, mask.area, mask.bbox) == ("human", "edited", 1, 8, [2, 3, 4, 2])
    assert np.array_equal(storage.mask_decode(mask.rle, mask.image.height, mask.image.width), raster(target.image))


def test_mask_replace_keeps_a_revision(target, annotator):
    mask = MaskFactory(target=target, warnings=["fallback"], provenance={"generator": "coldstart"})
    old_rle = mask.rle
    mask = mask_replace(target=target, raster=raster(target.image), version=1, actor=annotator)
    assert (mask.version, mask.warnings, mask.edited_by_id) == (2, [], annotator.pk)
    assert mask.provenance["generator"] == "coldstart"
    revision = MaskRevision.objects.get(mask=mask)
    assert (revision.version, revision.rle, revision.source) == (1, old_rle, MaskSource.COLDSTART)


def test_mask_replace_stale_version_changes_nothing(target, annotator):
    mask = MaskFactory(target=target)
    mask_replace(target=target, raster=raster(target.image), version=1, actor=annotator)
    with pytest.raises(ConflictError) as caught:
        mask_replace(target=target, raster=raster(target.image, 0, 0), version=1, actor=annotator)
    assert caught.value.extra["current_version"] == 2
    mask.refresh_from_db()
    assert (mask.version, mask.bbox) == (2, [2, 3, 4, 2])
    assert MaskRevision.objects.count() == 1


def test_mask_replace_wrong_size(target, annotator):
    with pytest.raises(ApplicationError) as caught:
        mask_replace(target=target, raster=np.zeros((3, 3), bool), version=0, actor=annotator)
    assert caught.value.status_code == 400
    assert not Mask.objects.exists()


def test_confirmed_mask_needs_reviewer_to_replace(target, annotator, reviewer):
    MaskFactory(target=target, state=MaskState.CONFIRMED)
    with pytest.raises(ApplicationError) as caught:
        mask_replace(target=target, raster=raster(target.image), version=1, actor=annotator)
    assert caught.value.status_code == 403
    assert mask_replace(target=target, raster=raster(target.image), version=1, actor=reviewer).state == "edited"


def test_confirm_and_reject(target, reviewer, annotator):
    mask = MaskFactory(target=target)
    with pytest.raises(ApplicationError):
        mask_confirm(mask=mask, actor=annotator)
    mask = mask_confirm(mask=mask, actor=reviewer, version=1)
    assert (mask.state, mask.confirmed_by_id, mask.version) == (MaskState.CONFIRMED, reviewer.pk, 2)
    with pytest.raises(ConflictError):
        mask_reject(mask=mask, actor=reviewer, version=1)
    mask = mask_reject(mask=mask, actor=reviewer, comment="too big")
    assert (mask.state, mask.confirmed_by_id) == (MaskState.REJECTED, None)


def test_store_prediction_writes_and_overwrites_predicted(target):
    model = ModelVersionFactory(project=target.image.project)
    first = mask_store_prediction(
        target=target, raster=raster(target.image), source="coldstart", provenance={"clicks": [[5, 4]]}, warnings=[]
    )
    second = mask_store_prediction(
        target=target,
        raster=raster(target.image, 0, 0),
        source=MaskSource.MODEL,
        model_version=model,
        provenance={"model": model.pk},
        warnings=["adhesion"],
    )
    assert first.pk == second.pk
    assert (second.version, second.source, second.model_version_id, second.warnings) == (
        2,
        "model",
        model.pk,
        ["adhesion"],
    )
    assert MaskRevision.objects.filter(mask=second).count() == 1


@pytest.mark.parametrize("state", [MaskState.EDITED, MaskState.CONFIRMED])
def test_store_prediction_never_overwrites_human_masks(target, state):
    mask = MaskFactory(target=target, state=state)
    result = mask_store_prediction(
        target=target, raster=raster(target.image), source="coldstart", provenance={}, warnings=[]
    )
    assert result is None
    fresh = Mask.objects.get(pk=mask.pk)
    assert (fresh.rle, fresh.version, fresh.state) == (mask.rle, 1, state)


def test_store_prediction_wrong_size(target):
    with pytest.raises(ApplicationError):
        mask_store_prediction(
            target=target, raster=np.zeros((2, 2), bool), source="coldstart", provenance={}, warnings=[]
        )


# --- review flags on human edits (issue 18, items 1-2) ------------------------------------------------------------
def test_an_edit_painted_next_to_another_target_is_flagged_disconnected_and_too_large(project, annotator):
    """The brush bug's result: pixels ~30 px from the target's point added to its mask. The saved edit says so."""
    target = TargetFactory(image__project=project, image__pixels=np.zeros((40, 60), np.uint8), x=10, y=10)
    generated = MaskFactory(target=target)  # the 3x3 blob the generator made
    painted = storage.mask_decode(generated.rle, 40, 60)
    painted[30:34, 35:50] = True  # a stroke near another target, far from this one's point
    mask = mask_replace(target=target, raster=painted, version=1, actor=annotator)
    assert mask.warnings == ["disconnected", "too_large"]
    assert mask.provenance["blob_area"] == 9
    # A later edit is still compared with the generator's blob, not with the previous (already too large) edit.
    painted[30:34, 35:40] = False
    mask = mask_replace(target=target, raster=painted, version=2, actor=annotator)
    assert mask.warnings == ["disconnected", "too_large"] and mask.provenance["blob_area"] == 9


def test_an_edit_that_erases_the_points_pixel_is_point_outside(target, annotator):
    generated = MaskFactory(target=target)
    erased = storage.mask_decode(generated.rle, target.image.height, target.image.width)
    erased[round(target.y), round(target.x)] = False
    assert mask_replace(target=target, raster=erased, version=1, actor=annotator).warnings == ["point_outside"]


def test_confirming_a_point_outside_mask_needs_an_acknowledgement(target, reviewer):
    mask = MaskFactory(target=target, warnings=["point_outside"], state=MaskState.EDITED)
    with pytest.raises(ConflictError) as caught:
        mask_confirm(mask=mask, actor=reviewer)
    assert "does not contain its own point" in caught.value.message
    assert caught.value.extra == {"needs_acknowledgement": ["point_outside"], "targets": {"point_outside": [target.pk]}}
    mask.refresh_from_db()
    assert (mask.state, mask.version) == (MaskState.EDITED, 1)
    confirmed = mask_confirm(mask=mask, actor=reviewer, acknowledge=["point_outside"])
    assert confirmed.state == MaskState.CONFIRMED and confirmed.warnings == ["point_outside"]  # the flag stays
    from labeling.models import AuditLog

    assert AuditLog.objects.get(action="mask.confirm").data["acknowledged"] == ["point_outside"]


def test_a_mask_rejection_comment_is_kept_on_the_mask_for_its_annotator(target, reviewer):
    mask = mask_reject(mask=MaskFactory(target=target), actor=reviewer, comment="two targets in one")
    assert mask.provenance["rejection"]["comment"] == "two targets in one"
    assert mask.provenance["rejection"]["by"] == reviewer.username
