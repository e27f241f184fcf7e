"""Fine-tuning (queue `train`, one at a time per worker)."""

from __future__ import annotations

from celery import Task

from labeling.tasks.base import job_task


# A worker lost mid-training -> redelivered; the service reruns it into the same version. The soft limit
# covers the largest project time budget (3000 s) plus the gate's scoring.
@job_task("labeling.tasks.model_train", soft_time_limit=3600, time_limit=3900, max_retries=2)
def model_train(self: Task, job_id: int) -> None:
    from labeling.services.training import model_train as service

    service(job_id=job_id)
