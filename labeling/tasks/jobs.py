"""Housekeeping for jobs (queue `loop`): beat's sweep for orphaned jobs, whose worker or messages were lost."""

from __future__ import annotations

from labeling.tasks.base import periodic_task


@periodic_task("jobs_sweep")
def jobs_sweep() -> dict:
    from labeling.services.job_sweep import jobs_sweep as service

    return service()
