"""Batch pre-labeling, one task per chunk of a job's images (queue `batch`)."""

from __future__ import annotations

from celery import Task, shared_task

from labeling.tasks.base import TRANSIENT_ERRORS, JobTask


@shared_task(
    name="labeling.tasks.project_prelabel",
    base=JobTask,
    bind=True,
    acks_late=True,  # a worker lost mid-chunk -> redelivered; the chunk resumes after its last finished image
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def project_prelabel(self: Task, job_id: int, chunk: int = 0) -> None:
    from labeling.services.prelabel import project_prelabel as service

    service(job_id=job_id, chunk=chunk)
