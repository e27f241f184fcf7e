"""Every state change of a confirmed label writes exactly one audit row: who, what, before and after (or version)."""

import numpy as np
import pytest
from django.urls import reverse

from labeling import storage
from labeling.choices import ImageStatus, JobStatus, MaskSource, MaskState, Split
from labeling.models import AuditLog, Image, Mask, MaskRevision, Project
from labeling.services.admin_actions import images_set_split
from labeling.services.prelabel import project_prelabel, project_prelabel_request
from tests.factories import ImageFactory, MaskFactory, TargetFactory, UserFactory
from tests.labeling.services.datasets.helpers import frame, mask_png, raster, run_import, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(project):
    return ImageFactory(project=project, status=ImageStatus.SUBMITTED)


@pytest.fixture
def confirmed(image, reviewer):
    return MaskFactory(
        target=TargetFactory(image=image, x=6, y=5), state=MaskState.CONFIRMED, confirmed_by=reviewer, version=3
    )


def _marker() -> int:
    return AuditLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _new(since: int, action: str | None = None) -> list[AuditLog]:
    rows = AuditLog.objects.filter(id__gt=since).order_by("id")
    return list(rows.filter(action=action) if action else rows)


def _one(since: int, action: str, obj) -> AuditLog:
    rows = [r for r in _new(since, action) if (r.object_type, r.object_id) == (obj._meta.model_name, str(obj.pk))]
    assert len(rows) == 1, [(r.action, r.object_type, r.object_id) for r in _new(since)]
    return rows[0]


def _square(x: int, y: int) -> dict:
    out = np.zeros((16, 24), bool)
    out[y - 1 : y + 2, x - 1 : x + 2] = True
    return {"size": [16, 24], "counts": storage.mask_encode(out)[0]}


def test_confirm_through_the_api(image, reviewer, client_for):
    mask = MaskFactory(target=TargetFactory(image=image), state=MaskState.EDITED, version=2)
    since = _marker()
    url = reverse("mask-confirm", kwargs={"target_id": mask.target_id})
    assert client_for(reviewer).post(url, {"version": 2}, format="json").status_code == 200
    row = _one(since, "mask.confirm", mask)
    assert row.actor == reviewer and row.project_id == image.project_id
    assert row.data["from"] == {"state": "edited", "version": 2} and row.data["to"] == {
        "state": "confirmed",
        "version": 3,
    }
    assert [r.action for r in _new(since)] == ["mask.confirm"]


def test_unconfirm_by_rejecting_a_confirmed_mask(confirmed, reviewer, client_for):
    since = _marker()
    url = reverse("mask-reject", kwargs={"target_id": confirmed.target_id})
    response = client_for(reviewer).post(url, {"version": 3, "comment": "halo"}, format="json")
    assert response.status_code == 200
    row = _one(since, "mask.reject", confirmed)
    assert row.actor == reviewer and row.data["comment"] == "halo"
    assert row.data["from"] == {"state": "confirmed", "version": 3}
    assert row.data["to"] == {"state": "rejected", "version": 4}
    assert [r.action for r in _new(since)] == ["mask.reject"]


def test_edit_of_a_confirmed_mask(confirmed, reviewer, client_for):
    since = _marker()
    url = reverse("target-mask", kwargs={"target_id": confirmed.target_id})
    response = client_for(reviewer).put(url, {"version": 3, "rle": _square(10, 8)}, format="json")
    assert response.status_code == 200
    row = _one(since, "mask.replace", confirmed)
    revision = MaskRevision.objects.get(mask=confirmed)
    assert row.actor == reviewer
    assert row.data["from"] == {"state": "confirmed", "version": 3, "revision": revision.pk}
    assert row.data["to"] == {"state": "edited", "version": 4}
    assert revision.rle == confirmed.rle and revision.state == MaskState.CONFIRMED
    assert [r.action for r in _new(since)] == ["mask.replace"]


def test_delete_of_a_target_with_a_confirmed_mask(confirmed, reviewer, client_for):
    since = _marker()
    url = reverse("target-detail", kwargs={"target_id": confirmed.target_id})
    assert client_for(reviewer).delete(url).status_code == 204
    row = _one(since, "target.delete", confirmed.target)
    assert row.actor == reviewer
    assert row.data["mask"] == {"rle": confirmed.rle, "state": "confirmed", "source": "coldstart", "version": 3}
    assert not Mask.objects.filter(pk=confirmed.pk).exists()
    assert [r.action for r in _new(since)] == ["target.delete"]  # the image stays submitted: no status row


def test_move_of_a_confirmed_masks_point(confirmed, annotator, client_for):
    since = _marker()
    url = reverse("target-detail", kwargs={"target_id": confirmed.target_id})
    assert client_for(annotator).patch(url, {"version": 1, "x": 7.5}, format="json").status_code == 200
    row = _one(since, "target.move", confirmed.target)
    assert row.actor == annotator
    assert row.data["from"]["x"] == 6 and row.data["to"]["x"] == 7.5
    assert row.data["mask"] == {"id": confirmed.pk, "state": "confirmed", "version": {"from": 3, "to": 4}}
    confirmed.refresh_from_db()
    assert confirmed.state == MaskState.CONFIRMED and confirmed.warnings == ["point_moved"]
    assert [r.action for r in _new(since)] == ["target.move"]


def test_image_confirm_reject_and_submit_each_leave_one_row(image, annotator, reviewer, client_for):
    predicted = MaskFactory(target=TargetFactory(image=image, x=3, y=3))
    edited = MaskFactory(target=TargetFactory(image=image, x=12, y=9), state=MaskState.EDITED)
    since = _marker()
    assert client_for(reviewer).post(reverse("image-confirm", kwargs={"image_id": image.pk})).status_code == 200
    row = _one(since, "image.confirm", image)
    assert row.actor == reviewer and (row.data["from"], row.data["to"]) == ("submitted", "confirmed")
    for mask, state in ((predicted, "predicted"), (edited, "edited")):
        mask_row = _one(since, "mask.confirm", mask)
        assert mask_row.actor == reviewer and mask_row.data["via"] == "image.confirm"
        assert mask_row.data["from"] == {"state": state, "version": 1}
        assert mask_row.data["to"] == {"state": "confirmed", "version": 2}
    assert len(_new(since)) == 3

    since = _marker()  # reopen a confirmed image
    url = reverse("image-reject", kwargs={"image_id": image.pk})
    assert client_for(reviewer).post(url, {"comment": "missed one"}, format="json").status_code == 200
    row = _one(since, "image.reject", image)
    assert (row.actor, row.data["from"], row.data["to"]) == (reviewer, "confirmed", "rejected")
    assert len(_new(since)) == 1

    since = _marker()
    assert client_for(annotator).post(reverse("image-submit", kwargs={"image_id": image.pk})).status_code == 200
    row = _one(since, "image.submit", image)
    assert (row.actor, row.data["from"], row.data["to"]) == (annotator, "rejected", "submitted")
    assert len(_new(since)) == 1


def test_first_target_moves_a_new_image_to_in_progress_with_a_row(project, annotator, client_for):
    image = ImageFactory(project=project)
    since = _marker()
    url = reverse("target-list", kwargs={"image_id": image.pk})
    assert client_for(annotator).post(url, {"x": 3, "y": 4}, format="json").status_code == 201
    row = _one(since, "image.status", image)
    assert (row.actor, row.data["from"], row.data["to"]) == (annotator, "new", "in_progress")
    assert [r.action for r in _new(since)] == ["target.add", "image.status"]


def test_image_delete_keeps_the_confirmed_masks_in_the_log(image, confirmed, manager, client_for):
    since = _marker()
    assert client_for(manager).delete(reverse("image-detail", kwargs={"image_id": image.pk})).status_code == 204
    row = _one(since, "image.delete", image)
    assert row.actor == manager and row.data["status"] == "submitted"
    assert row.data["masks"] == [
        {"target_id": confirmed.target_id, "x": 6.0, "y": 5.0, "rle": confirmed.rle, "state": "confirmed", "version": 3}
    ]
    assert len(_new(since)) == 1


def test_admin_bulk_split_and_deletes_are_audited(image, confirmed, client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    since = _marker()
    assert images_set_split(images=Image.objects.filter(pk=image.pk), split=Split.VAL, actor=staff) == 1
    row = _one(since, "image.split", image)
    assert (row.actor, row.data["from"], row.data["to"]) == (staff, "train", "val")

    client.force_login(staff)
    # rows only services write cannot be deleted or edited in the admin: a confirmed mask cannot vanish there
    assert client.post(reverse("admin:labeling_mask_delete", args=[confirmed.pk]), {"post": "yes"}).status_code == 403
    assert (
        client.post(reverse("admin:labeling_target_delete", args=[confirmed.target_id]), {"post": "yes"}).status_code
        == 403
    )
    page = client.get(reverse("admin:labeling_image_change", args=[image.pk])).content.decode()
    assert 'name="status"' not in page  # status changes only through the audited review workflow
    assert Mask.objects.filter(pk=confirmed.pk).exists()

    since = _marker()
    response = client.post(reverse("admin:labeling_image_delete", args=[image.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Image.objects.filter(pk=image.pk).exists()
    row = _one(since, "image.delete", image)
    assert row.actor == staff and row.data["masks"][0]["rle"] == confirmed.rle
    assert len(_new(since)) == 1

    project = Project.objects.get(pk=image.project_id)
    since = _marker()
    response = client.post(reverse("admin:labeling_project_delete", args=[project.pk]), {"post": "yes"})
    assert response.status_code == 302 and not Project.objects.filter(pk=project.pk).exists()
    row = _one(since, "project.delete", project)
    assert row.actor == staff and row.data["via"] == "admin" and row.data["images"] == 0


def test_import_with_confirm_records_each_image_once(project, manager):
    data = zip_bytes(
        {
            "data/images/a.png": frame(seed=1),
            "data/masks/a.png": mask_png(raster(16, 24, (2, 3), (9, 12))),
            "data/images/b.png": frame(seed=2),
            "data/masks/b.png": mask_png(raster(16, 24, (5, 5))),
        }
    )
    since = _marker()
    job = run_import(project, manager, data, confirm=True)
    assert job.status == JobStatus.SUCCEEDED
    for image in Image.objects.filter(project=project):
        row = _one(since, "image.import", image)
        confirmed = sorted(Mask.objects.filter(image=image, state=MaskState.CONFIRMED).values_list("pk", flat=True))
        assert row.actor == manager and len(confirmed) >= 1
        assert sorted(row.data["confirmed_masks"]) == confirmed
        assert (row.data["from"], row.data["to"], row.data["version"]) == ("new", "confirmed", image.version)
    assert len(_new(since, "image.import")) == 2


def test_prelabel_never_overwrites_a_confirmed_or_edited_mask(project, manager, reviewer):
    image = ImageFactory(project=project, status=ImageStatus.IN_PROGRESS)
    confirmed = MaskFactory(target=TargetFactory(image=image, x=6, y=5), state=MaskState.CONFIRMED, version=3)
    edited = MaskFactory(target=TargetFactory(image=image, x=15, y=10), state=MaskState.EDITED, version=2)
    fresh = TargetFactory(image=image, x=20, y=3)
    before = {m.pk: (m.rle, m.version, m.state, m.updated_at) for m in (confirmed, edited)}
    since = _marker()
    job = project_prelabel_request(project=project, actor=manager)
    assert job.payload["image_ids"] == [image.pk]
    project_prelabel(job_id=job.pk, chunk=0)  # what the batch worker runs
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.errors == []
    for mask in (confirmed, edited):
        mask.refresh_from_db()
        assert (mask.rle, mask.version, mask.state, mask.updated_at) == before[mask.pk]
        assert not MaskRevision.objects.filter(mask=mask).exists()
        assert not AuditLog.objects.filter(id__gt=since, object_type="mask", object_id=str(mask.pk)).exists()
    made = Mask.objects.get(target=fresh)
    assert made.state == MaskState.PREDICTED and made.source == MaskSource.COLDSTART
    assert _one(since, "mask.predict", made).actor is None  # the machine, recorded as such
