"""Batch pre-labeling, one task per chunk of a job's images (queue `batch`)."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


# A worker lost mid-chunk -> the message is redelivered; the chunk resumes after its last finished image.
@job_task(JobKind.PRELABEL)
def project_prelabel(self: Task, job_id: int, chunk: int = 0) -> None:
    from labeling.services.prelabel import project_prelabel as service

    service(job_id=job_id, chunk=chunk)
