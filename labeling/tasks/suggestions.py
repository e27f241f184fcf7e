"""Candidate targets for frames without points, one task per chunk of a detection job's frames (queue `batch`)."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


# A worker lost mid-chunk -> the message is redelivered; the chunk resumes after its last finished frame.
@job_task(JobKind.DETECT)
def suggestions_detect(self: Task, job_id: int, chunk: int = 0) -> None:
    from labeling.services.suggestions import suggestions_detect as service

    service(job_id=job_id, chunk=chunk)
