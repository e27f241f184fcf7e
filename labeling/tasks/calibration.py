"""Per-project cold-start calibration (queue `batch`)."""

from __future__ import annotations

from celery import Task, shared_task

from labeling.tasks.base import TRANSIENT_ERRORS, JobTask


@shared_task(
    name="labeling.tasks.project_calibrate",
    base=JobTask,
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def project_calibrate(self: Task, job_id: int) -> None:
    from labeling.services.calibration import project_calibrate as service

    service(job_id=job_id)
