"""Dataset import and export jobs (queue `batch`): thin wrappers around the services, by job id."""

from __future__ import annotations

from celery import Task

from labeling.tasks.base import job_task

_LIMITS = {"soft_time_limit": 3 * 3600, "time_limit": 3 * 3600 + 300}


@job_task("labeling.tasks.dataset_import", **_LIMITS)
def dataset_import(self: Task, job_id: int) -> None:
    from labeling.services.datasets import dataset_import as service

    service(job_id=job_id)


@job_task("labeling.tasks.dataset_export", **_LIMITS)
def dataset_export(self: Task, job_id: int) -> None:
    from labeling.services.datasets import dataset_export as service

    service(job_id=job_id)
