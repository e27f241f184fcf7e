"""Dataset import and export jobs (queue `batch`): thin wrappers around the services, by job id."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


@job_task(JobKind.IMPORT)
def dataset_import(self: Task, job_id: int) -> None:
    from labeling.services.datasets import dataset_import as service

    service(job_id=job_id)


@job_task(JobKind.EXPORT)
def dataset_export(self: Task, job_id: int) -> None:
    from labeling.services.datasets import dataset_export as service

    service(job_id=job_id)
