"""Mask generation through a real Celery worker on the real Redis broker (no eager mode)."""

from pathlib import Path

import numpy as np
import pytest
from django.db import transaction

from labeling import storage
from labeling.choices import JobStatus, MaskSource, MaskState, Role
from labeling.models import Job, Mask
from labeling.services.generation import image_generate_request
from labeling.services.jobs import job_wait
from labeling.services.masks import mask_replace
from labeling.services.serving import generator_spec
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.labeling.frames import two_blobs_frame

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DEMO = Path(__file__).resolve().parents[3] / "labeling" / "demo" / "sirst"


def _project_with_image(pixels: np.ndarray | None = None):
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    image = ImageFactory(project=project, pixels=two_blobs_frame() if pixels is None else pixels)
    return project, user, image


def test_worker_generates_one_mask_per_target(worker):
    _, user, image = _project_with_image()
    a = TargetFactory(image=image, x=20.0, y=20.0)
    b = TargetFactory(image=image, x=60.4, y=39.6)
    job = image_generate_request(image=image, actor=user)
    job = job_wait(job, 30)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.result["generator"] == "coldstart" and job.result["stored"] == 2
    masks = {m.target_id: m for m in Mask.objects.filter(image=image)}
    assert set(masks) == {a.pk, b.pk}
    rasters = {pk: storage.mask_decode(m.rle, image.height, image.width) for pk, m in masks.items()}
    assert rasters[a.pk][20, 20] and rasters[b.pk][40, 60]
    assert not np.any(rasters[a.pk] & rasters[b.pk])
    for mask in masks.values():
        assert mask.source == MaskSource.COLDSTART and mask.state == MaskState.PREDICTED
        assert mask.provenance["generator"] == "coldstart" and len(mask.provenance["clicks"]) == 2
        assert 3 <= mask.area <= 60


def test_rerun_overwrites_prediction_but_keeps_human_edit(worker):
    project, user, image = _project_with_image()
    a = TargetFactory(image=image, x=20.0, y=20.0)
    b = TargetFactory(image=image, x=60.0, y=40.0)
    assert job_wait(image_generate_request(image=image, actor=user), 30).status == JobStatus.SUCCEEDED
    edited = np.zeros((image.height, image.width), bool)
    edited[19:22, 19:22] = True
    mask_replace(target=a, raster=edited, version=Mask.objects.get(target=a).version, actor=user)
    first_b = Mask.objects.get(target=b)

    # the same inputs again: nothing to write (no new version, no revision)
    assert job_wait(image_generate_request(image=image, actor=user), 30).status == JobStatus.SUCCEEDED
    assert Mask.objects.get(target=b).version == first_b.version

    # a looser threshold changes b's pixels: b is overwritten in place, a's human edit is kept
    project.settings = {"generator": {"alpha": 0.12}}
    project.save()
    assert job_wait(image_generate_request(image=image, actor=user), 30).status == JobStatus.SUCCEEDED
    kept = Mask.objects.get(target=a)
    assert kept.state == MaskState.EDITED and kept.area == 9
    regenerated = Mask.objects.get(target=b)
    assert regenerated.version == first_b.version + 1 and regenerated.area > first_b.area
    assert regenerated.revisions.count() == 1
    assert Mask.objects.filter(image=image).count() == 2


def test_deleted_image_fails_the_job_with_a_message(worker):
    _, user, image = _project_with_image()
    TargetFactory(image=image, x=20.0, y=20.0)
    with transaction.atomic():  # the task is sent on commit, after the image is gone
        job = image_generate_request(image=image, actor=user)
        image.delete()  # jobs belong to the project, so the job row survives
    job = job_wait(Job.objects.get(pk=job.pk), 30)
    assert job.status == JobStatus.FAILED
    assert "deleted" in job.message


def test_real_sirst_frame_gets_a_target_sized_mask(worker):
    frame = (DEMO / "images" / "Misc_181.png").read_bytes()
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    image = ImageFactory(project=project, data=frame)
    gt = storage.mask_png_decode((DEMO / "masks" / "Misc_181.png").read_bytes(), image.height, image.width)
    ys, xs = np.nonzero(gt)
    TargetFactory(image=image, x=float(np.floor(xs.mean())), y=float(np.floor(ys.mean())))
    job = job_wait(image_generate_request(image=image, actor=user), 30)
    assert job.status == JobStatus.SUCCEEDED, job.message
    mask = storage.mask_decode(Mask.objects.get(image=image).rle, image.height, image.width)
    iou = (mask & gt).sum() / (mask | gt).sum()
    assert iou > 0.5


def test_generator_is_cold_start_until_a_model_is_promoted(db):
    project = ProjectFactory(settings={"generator": {"alpha": 0.3}})
    spec = generator_spec(project)
    assert spec.method == "coldstart" and spec.alpha == 0.3


def test_warnings_flag_adhesion_to_a_human_mask_and_large_masks(db, settings):
    """In-process run of the worker's service (the queue is covered above): the review flags it stores."""
    from labeling.choices import JobKind
    from labeling.services.generation import image_generate
    from labeling.services.jobs import job_create

    project, user, image = _project_with_image()
    project.settings = {"generator": {"large_area": 12}}
    project.save()
    a = TargetFactory(image=image, x=20.0, y=20.0)
    b = TargetFactory(image=image, x=60.0, y=40.0)
    job = job_create(project=project, kind=JobKind.GENERATE, actor=user, image=image, payload={"image_id": image.pk})
    image_generate(job_id=job.pk)
    first_b = Mask.objects.get(target=b)
    assert "adhesion" not in first_b.warnings
    # a human draws a's mask right up against b's predicted pixels
    b_raster = storage.mask_decode(first_b.rle, image.height, image.width)
    ys, xs = np.nonzero(b_raster)
    human = np.zeros_like(b_raster)
    human[ys.min() : ys.max() + 1, xs.min() - 2 : xs.min()] = True  # the column next to b
    mask_replace(target=a, raster=human, version=Mask.objects.get(target=a).version, actor=user)
    job = job_create(project=project, kind=JobKind.GENERATE, actor=user, image=image, payload={"image_id": image.pk})
    image_generate(job_id=job.pk)
    flagged = Mask.objects.get(target=b)
    assert "adhesion" in flagged.warnings
    assert ("too_large" in flagged.warnings) == (flagged.area > 12)
    # a human mask is not rewritten by the generator; it keeps its own flags: drawn next to b, it misses a's point
    assert Mask.objects.get(target=a).warnings == ["point_outside", "disconnected"]
