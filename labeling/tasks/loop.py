"""The learning loop's quick work (queue `loop`): scoring a confirmed frame, and the periodic check run by beat."""

from __future__ import annotations

from celery import Task

from labeling.choices import JobKind
from labeling.tasks.base import job_task, periodic_task


# Scoring replays a few generators on one frame (well under a second each); redelivery is harmless (idempotent).
@job_task(JobKind.SCORE)
def frame_score(self: Task, job_id: int) -> None:
    from labeling.services.loop import frame_score as service

    service(job_id=job_id)


@periodic_task("projects_loop_check")
def projects_loop_check() -> dict:
    from labeling.services.loop import projects_loop_check as service

    return service()
