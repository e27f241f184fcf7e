"""Housekeeping for jobs (queue `loop`): beat's sweep for orphaned jobs, whose worker or messages were lost."""

from __future__ import annotations

from celery import shared_task

from labeling.tasks.base import TRANSIENT_ERRORS


@shared_task(
    name="labeling.tasks.jobs_sweep",
    acks_late=True,
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=180,
)
def jobs_sweep() -> dict:
    from labeling.services.job_sweep import jobs_sweep as service

    return service()
