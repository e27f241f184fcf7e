"""Fine-tuning (queue `train`, one at a time per worker)."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


# A worker lost mid-training -> redelivered; the service reruns it into the same version.
@job_task(JobKind.TRAIN)
def model_train(self: Task, job_id: int) -> None:
    from labeling.services.training import model_train as service

    service(job_id=job_id)
