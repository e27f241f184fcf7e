"""Interactive mask generation for one image (queue `interactive`)."""

from __future__ import annotations

from celery import Task, shared_task

from labeling.tasks.base import TRANSIENT_ERRORS, JobTask


@shared_task(
    name="labeling.tasks.image_generate",
    base=JobTask,
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=30,
    time_limit=60,
)
def image_generate(self: Task, job_id: int) -> None:
    from labeling.services.generation import image_generate as service

    service(job_id=job_id)
