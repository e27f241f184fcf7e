"""Batch pre-labeling in process: which images, human edits kept, per-image errors, progress and cancel."""

import numpy as np
import pytest

from labeling.choices import ImageStatus, JobStatus, MaskSource, MaskState, Role
from labeling.exceptions import ApplicationError
from labeling.models import Job, Mask
from labeling.services.masks import mask_replace
from labeling.services.prelabel import CHUNK_SIZE, project_prelabel, project_prelabel_request
from tests.factories import ImageFactory, MembershipFactory, TargetFactory
from tests.labeling.frames import blob_frame, loop_project

pytestmark = pytest.mark.django_db


def _pointed_image(project, seed: int):
    """An imported point label: targets on the blobs, no masks yet."""
    pixels, centres, _ = blob_frame(seed)
    image = ImageFactory(project=project, pixels=pixels, original_name=f"points_{seed}.png")
    return image, [TargetFactory(image=image, x=x, y=y) for x, y in centres]


def _run(job: Job) -> Job:
    for chunk in range(job.payload["chunks"]):
        project_prelabel(job_id=job.pk, chunk=chunk)
    job.refresh_from_db()
    return job


def test_prelabels_images_with_points_but_no_masks_and_leaves_confirmed_ones():
    project, manager = loop_project(n_confirmed=1)
    (a, targets_a), (b, _) = _pointed_image(project, 1), _pointed_image(project, 2)
    ImageFactory(project=project)  # no targets: nothing to do
    job = project_prelabel_request(project=project, actor=manager)
    assert job.payload["image_ids"] == [a.pk, b.pk] and job.total == 2
    job = _run(job)
    assert job.status == JobStatus.SUCCEEDED and (job.done, job.total, job.progress) == (2, 2, 100)
    assert job.result["stored"] == 4 and job.errors == []
    for target in targets_a:
        mask = Mask.objects.get(target=target)
        assert mask.state == MaskState.PREDICTED and mask.source == MaskSource.COLDSTART
        assert mask.provenance["job"] == job.pk
    confirmed = Mask.objects.filter(image__status=ImageStatus.CONFIRMED)
    assert set(confirmed.values_list("state", flat=True)) == {MaskState.CONFIRMED}


def test_a_human_edit_is_never_overwritten_and_predicted_masks_are_refreshed():
    project, manager = loop_project()
    image, (edited_target, other) = _pointed_image(project, 3)
    _run(project_prelabel_request(project=project, actor=manager))
    raster = np.zeros((image.height, image.width), bool)
    raster[0:2, 0:2] = True
    mask_replace(
        target=edited_target, raster=raster, version=Mask.objects.get(target=edited_target).version, actor=manager
    )
    # A mask made by an earlier generator (e.g. before a promotion) is refreshed; an identical one is not rewritten.
    Mask.objects.filter(target=other).update(provenance={"generator": "an older model"})
    before = Mask.objects.get(target=other).version
    job = _run(project_prelabel_request(project=project, actor=manager))  # e.g. after a promotion
    assert job.status == JobStatus.SUCCEEDED and job.result["stored"] == 1
    kept = Mask.objects.get(target=edited_target)
    assert kept.state == MaskState.EDITED and kept.area == 4
    assert Mask.objects.get(target=other).version == before + 1
    only_missing = project_prelabel_request(project=project, actor=manager, include_predicted=False)
    assert only_missing.total == 0 and only_missing.status == JobStatus.SUCCEEDED


def test_a_bad_image_is_an_error_of_the_job_not_its_end():
    project, manager = loop_project()
    good, _ = _pointed_image(project, 4)
    bad, _ = _pointed_image(project, 5)
    job = project_prelabel_request(project=project, actor=manager)
    bad.file.storage.delete(bad.file.name)  # the original vanished from storage
    job = _run(job)
    assert job.status == JobStatus.SUCCEEDED and job.done == 2
    assert [e["item"] for e in job.errors] == [bad.pk] and job.errors[0]["message"]
    assert Mask.objects.filter(image=good).count() == 2 and not Mask.objects.filter(image=bad).exists()
    assert "1 errors" in job.message


def test_selection_and_chunks_resume_after_the_last_finished_image():
    project, manager = loop_project()
    images = [_pointed_image(project, seed)[0] for seed in range(CHUNK_SIZE + 2)]
    job = project_prelabel_request(project=project, actor=manager, image_ids=[i.pk for i in images])
    assert job.payload["chunks"] == 2
    project_prelabel(job_id=job.pk, chunk=1)
    job.refresh_from_db()
    assert (job.status, job.done) == (JobStatus.RUNNING, 2)
    project_prelabel(job_id=job.pk, chunk=1)  # a duplicate delivery of a finished chunk changes nothing
    job.refresh_from_db()
    assert job.done == 2 and job.result["chunk_attempts"] == {"1": 1}
    # Chunk 0's worker died after 5 images: its redelivery resumes at the 6th and counts nothing twice.
    Job.objects.filter(pk=job.pk).update(
        done=7, result={**job.result, "chunk_done": {"0": 5, "1": 2}, "chunk_attempts": {"0": 1, "1": 1}}
    )
    project_prelabel(job_id=job.pk, chunk=0)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.done == CHUNK_SIZE + 2
    assert job.result["chunk_attempts"] == {"0": 2, "1": 1}
    assert [Mask.objects.filter(image=i).exists() for i in images[:CHUNK_SIZE]] == [False] * 5 + [True] * 11


def test_cancel_stops_between_images():
    project, manager = loop_project()
    for seed in range(3):
        _pointed_image(project, seed)
    job = project_prelabel_request(project=project, actor=manager)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    job = _run(job)
    assert job.status == JobStatus.CANCELLED and job.done == 0
    assert not Mask.objects.filter(image__project=project).exists()


def test_request_checks_the_role_and_the_selection():
    project, manager = loop_project()
    image, _ = _pointed_image(project, 1)
    other_project, _ = loop_project()
    foreign, _ = _pointed_image(other_project, 2)
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    with pytest.raises(ApplicationError, match="manager role"):
        project_prelabel_request(project=project, actor=reviewer)
    with pytest.raises(ApplicationError, match="image_ids: 1 images are not in this project") as bad:
        project_prelabel_request(project=project, actor=manager, image_ids=[image.pk, foreign.pk])
    assert bad.value.extra["missing"] == [foreign.pk]
    assert not Job.objects.filter(project=project).exists()
