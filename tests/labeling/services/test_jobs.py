"""job_create / job_update_progress / job_finish / job_cancel."""

import pytest

from labeling.choices import JobStatus
from labeling.exceptions import ApplicationError, ConflictError
from labeling.services import job_cancel, job_create, job_finish, job_update_progress

pytestmark = pytest.mark.django_db


def test_job_lifecycle(project, manager):
    job = job_create(project=project, kind="prelabel", actor=manager, payload={"image_ids": [1]}, total=4)
    assert (job.status, job.progress) == (JobStatus.QUEUED, 0)
    job = job_update_progress(job=job, done=1, message="1/4", errors=[{"item": 7, "message": "bad"}])
    assert (job.status, job.progress, job.errors[0]["item"]) == (JobStatus.RUNNING, 25, 7)
    assert job.started_at is not None
    job = job_finish(job=job)
    assert (job.status, job.progress, job.done) == (JobStatus.SUCCEEDED, 100, 4)
    with pytest.raises(ConflictError):
        job_cancel(job=job, actor=manager)


def test_cancelled_job_ignores_progress(project, manager):
    job = job_cancel(job=job_create(project=project, kind="train", actor=manager), actor=manager)
    assert job_update_progress(job=job, done=3, total=4).status == JobStatus.CANCELLED
    assert job_finish(job=job, status=JobStatus.FAILED).status == JobStatus.CANCELLED


def test_unknown_kind(project, manager):
    with pytest.raises(ApplicationError):
        job_create(project=project, kind="dance", actor=manager)
