"""Interactive mask generation for one image (queue `interactive`)."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task


@job_task(JobKind.GENERATE)
def image_generate(self: Task, job_id: int) -> None:
    from labeling.services.generation import image_generate as service

    service(job_id=job_id)
