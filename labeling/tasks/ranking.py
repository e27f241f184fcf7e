"""The active claim order's ranking, one task per chunk of a ranking job's frames (queue `batch`)."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


# A worker lost mid-chunk -> the message is redelivered; the chunk resumes after its last finished frame.
@job_task(JobKind.RANK)
def frames_rank(self: Task, job_id: int, chunk: int = 0) -> None:
    from labeling.services.ranking import frames_rank as service

    service(job_id=job_id, chunk=chunk)
