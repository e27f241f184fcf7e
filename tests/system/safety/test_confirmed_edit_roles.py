"""Who may change a confirmed mask (reviewer and up), and the revision chain that keeps every replaced version."""

import numpy as np
import pytest
from django.urls import reverse

from labeling import storage
from labeling.choices import MaskState, Role
from labeling.models import AuditLog, Mask, MaskRevision, Target
from tests.factories import ImageFactory, MaskFactory, TargetFactory

pytestmark = pytest.mark.django_db


def _raster(x: int, y: int, r: int) -> np.ndarray:
    out = np.zeros((16, 24), bool)
    out[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1] = True
    return out


def _body(version: int, raster: np.ndarray) -> dict:
    return {"version": version, "rle": {"size": [16, 24], "counts": storage.mask_encode(raster)[0]}}


@pytest.fixture
def confirmed(project, reviewer):
    target = TargetFactory(image=ImageFactory(project=project), x=6, y=5)
    return MaskFactory(target=target, state=MaskState.CONFIRMED, confirmed_by=reviewer, version=2)


def _snapshot(mask: Mask) -> tuple:
    mask.refresh_from_db()
    return mask.rle, mask.version, mask.state, mask.source, mask.confirmed_by_id, mask.updated_at


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (None, 404),
        (Role.VIEWER, 403),
        (Role.ANNOTATOR, 403),
        (Role.REVIEWER, 200),
        (Role.MANAGER, 200),
        (Role.OWNER, 200),
    ],
)
def test_who_may_edit_a_confirmed_mask(confirmed, member, outsider, client_for, role, status):
    user = member(role) if role else outsider
    before = _snapshot(confirmed)
    url = reverse("target-mask", kwargs={"target_id": confirmed.target_id})
    response = client_for(user).put(url, _body(2, _raster(10, 8, 1)), format="json")
    assert response.status_code == status, response.content
    if status != 200:
        assert _snapshot(confirmed) == before  # not a byte changed
        assert not MaskRevision.objects.exists() and not AuditLog.objects.filter(object_type="mask").exists()
        if status == 403:
            body = response.json()  # a viewer may not edit masks at all; an annotator not a confirmed one
            needed = "annotator" if role == Role.VIEWER else "reviewer"
            assert f"You need the {needed} role or higher to edit" in body["message"]
            assert body["extra"] == {"required_role": needed, "role": role}
        return
    mask = Mask.objects.get(pk=confirmed.pk)
    assert (mask.state, mask.version, mask.edited_by) == (MaskState.EDITED, 3, user)
    revision = MaskRevision.objects.get(mask=confirmed)
    assert (revision.rle, revision.version, revision.state, revision.created_by) == (before[0], 2, "confirmed", user)


def test_annotator_cannot_unconfirm_delete_or_replace_away_a_confirmed_mask(confirmed, annotator, client_for):
    client = client_for(annotator)
    before = _snapshot(confirmed)
    target_id, image = confirmed.target_id, confirmed.image
    for url, body in (
        (reverse("mask-reject", kwargs={"target_id": target_id}), {"version": 2}),
        (reverse("mask-confirm", kwargs={"target_id": target_id}), {"version": 2}),
    ):
        assert client.post(url, body, format="json").status_code == 403
    response = client.delete(reverse("target-detail", kwargs={"target_id": target_id}))
    assert response.status_code == 403 and "only a reviewer can delete it" in response.json()["message"]
    url = reverse("target-list", kwargs={"image_id": image.pk})
    response = client.put(url, {"version": image.version, "points": [{"x": 1, "y": 1}]}, format="json")
    assert response.status_code == 403
    assert _snapshot(confirmed) == before and list(Target.objects.values_list("pk", flat=True)) == [target_id]


def test_the_revision_chain_restores_every_confirmed_version_byte_for_byte(
    project, annotator, reviewer, manager, client_for
):
    """predicted v1 -> annotator edit v2 -> confirm v3 -> reviewer edit v4 -> confirm v5 -> manager edit v6:
    each replaced version is one revision, and putting a revision's RLE back gives exactly those bytes."""
    target = TargetFactory(image=ImageFactory(project=project), x=6, y=5)
    mask = MaskFactory(target=target)  # predicted, version 1
    url = reverse("target-mask", kwargs={"target_id": target.pk})
    confirm = reverse("mask-confirm", kwargs={"target_id": target.pk})
    history = {1: (mask.rle, "predicted")}
    steps = [(annotator, _raster(6, 5, 0)), (reviewer, _raster(7, 5, 1)), (manager, _raster(8, 6, 2))]
    for step, (editor, raster) in enumerate(steps):
        response = client_for(editor).put(url, _body(Mask.objects.get(pk=mask.pk).version, raster), format="json")
        assert response.status_code == 200, response.content
        version = response.json()["version"]
        history[version] = (Mask.objects.get(pk=mask.pk).rle, "edited")
        if step < 2:
            response = client_for(reviewer).post(confirm, {"version": version}, format="json")
            assert response.status_code == 200
            history[version + 1] = (history[version][0], "confirmed")
    assert Mask.objects.get(pk=mask.pk).version == 6
    chain = list(MaskRevision.objects.filter(mask=mask).order_by("id"))
    assert [(r.version, r.state, r.created_by) for r in chain] == [
        (1, "predicted", annotator),
        (3, "confirmed", reviewer),
        (5, "confirmed", manager),
    ]
    for revision in chain:
        assert revision.rle == history[revision.version][0] and revision.state == history[revision.version][1]
    edits = AuditLog.objects.filter(action="mask.replace", object_id=str(mask.pk)).order_by("id")
    assert [e.data["from"]["revision"] for e in edits] == [r.pk for r in chain]

    # roll back to the first confirmed version from its revision: the stored RLE is the same string, byte for byte
    first_confirmed = chain[1]
    decoded = storage.mask_decode(first_confirmed.rle, 16, 24)
    body = {"version": 6, "rle": {"size": [16, 24], "counts": first_confirmed.rle}}
    assert client_for(reviewer).put(url, body, format="json").status_code == 200
    restored = Mask.objects.get(pk=mask.pk)
    assert restored.rle.encode() == first_confirmed.rle.encode()
    assert np.array_equal(storage.mask_decode(restored.rle, 16, 24), decoded) and restored.area == decoded.sum()
    assert MaskRevision.objects.filter(mask=mask).latest("id").rle == history[6][0]  # the rollback kept v6 too
