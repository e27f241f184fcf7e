"""The shared task policy: retry only transient errors, and mark the Job failed when a task fails for good."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from labeling.job_kinds import PERIODIC, TaskSpec, job_spec

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


def _options(spec: TaskSpec) -> dict[str, Any]:
    """What every task shares: its row's name and limits, acks_late (a lost worker's message is redelivered; the
    services are idempotent), results ignored, transient errors retried with backoff."""
    return {
        "name": spec.task,
        "acks_late": True,
        "ignore_result": True,
        "autoretry_for": TRANSIENT_ERRORS,
        "retry_backoff": True,
        "max_retries": spec.max_retries,
        "soft_time_limit": spec.soft_time_limit,
        "time_limit": spec.time_limit,
    }


def job_task(kind: str) -> Any:
    """The decorator of every Job task (labeling.job_kinds.JOBS): bound, and the Job failed when the task fails
    for good."""
    return shared_task(base=JobTask, bind=True, **_options(job_spec(kind)))


def periodic_task(key: str) -> Any:
    """The decorator of beat's periodic tasks (labeling.job_kinds.PERIODIC): no Job of their own; the next beat
    tick runs them again anyway."""
    return shared_task(**_options(PERIODIC[key]))
