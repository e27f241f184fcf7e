"""Celery tasks: thin wrappers that take ids, call the same-named service, and own retry/failure policy."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

# Only errors that can heal by themselves are retried; everything else fails the job with its message.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class JobTask(Task):
    """Marks the task's Job failed (with the error) when the task fails for good."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        from labeling.choices import JobStatus
        from labeling.models import Job
        from labeling.services.jobs import job_finish

        job = Job.objects.filter(pk=kwargs.get("job_id", args[0] if args else None)).first()
        if job is not None:
            job_finish(job=job, status=JobStatus.FAILED, message=f"{type(exc).__name__}: {exc}")


@shared_task(
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
