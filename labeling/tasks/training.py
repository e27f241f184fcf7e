"""Training (queue `train`, one at a time per worker) and the periodic retraining check run by Celery beat."""

from __future__ import annotations

from celery import Task, shared_task

from labeling.tasks.base import TRANSIENT_ERRORS, job_task


# A worker lost mid-training -> redelivered; the service reruns it into the same version. The soft limit
# covers the largest project time budget (3000 s) plus the gate's scoring.
@job_task("labeling.tasks.model_train", soft_time_limit=3600, time_limit=3900, max_retries=2)
def model_train(self: Task, job_id: int) -> None:
    from labeling.services.training import model_train as service

    service(job_id=job_id)


@shared_task(
    name="labeling.tasks.projects_retrain_check",
    acks_late=True,
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=60,
    time_limit=120,
)
def projects_retrain_check() -> int:
    from labeling.services.training import projects_retrain_check as service

    return len(service())
