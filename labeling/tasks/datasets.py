"""Dataset import and export jobs (queue `batch`): thin wrappers around the services, by job id."""

from __future__ import annotations

from celery import Task, shared_task

from labeling.tasks.base import TRANSIENT_ERRORS, JobTask

_POLICY = {
    "base": JobTask,
    "bind": True,
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "max_retries": 3,
    "soft_time_limit": 3 * 3600,
    "time_limit": 3 * 3600 + 300,
}


@shared_task(name="labeling.tasks.dataset_import", **_POLICY)
def dataset_import(self: Task, job_id: int) -> None:
    from labeling.services.datasets import dataset_import as service

    service(job_id=job_id)


@shared_task(name="labeling.tasks.dataset_export", **_POLICY)
def dataset_export(self: Task, job_id: int) -> None:
    from labeling.services.datasets import dataset_export as service

    service(job_id=job_id)
