"""Per-project cold-start calibration (queue `batch`)."""

from __future__ import annotations

from celery import Task

from labeling.tasks.base import job_task


@job_task("labeling.tasks.project_calibrate", soft_time_limit=600, time_limit=660)
def project_calibrate(self: Task, job_id: int) -> None:
    from labeling.services.calibration import project_calibrate as service

    service(job_id=job_id)
