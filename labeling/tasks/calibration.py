"""Per-project cold-start calibration (queue `loop`)."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


@job_task(JobKind.CALIBRATE)
def project_calibrate(self: Task, job_id: int) -> None:
    from labeling.services.calibration import project_calibrate as service

    service(job_id=job_id)
