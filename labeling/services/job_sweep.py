"""Orphaned jobs: a job left `queued` or `running` whose work no worker holds any more is re-sent, or failed with
a message once re-sending did not help; run by beat (labeling.tasks.jobs_sweep).

Redis redelivers a dead worker's message only after the visibility timeout, which must exceed the longest task of
the queue (hours for exports, so a live task is never run twice), and never when Redis restarted without
persistence. The sweep looks sooner: a job with no progress for JOB_STALE_AFTER_S that no live worker runs or
holds, and none of whose messages waits in a queue, lost its work. Its messages left in a dead worker's unacked
set are dropped (so they are not redelivered later as well), its missing work is sent again (a pre-label job's
unfinished chunks; the task of any other job: every job task resumes or reruns idempotently), and after
MAX_RESENDS re-sends it is failed with a message. Exports' leftover temp folders are removed in the same sweep.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.choices import JobStatus
from labeling.job_kinds import job_spec, job_task_names
from labeling.models import AuditLog, Job
from labeling.services.audit import audit_log
from labeling.services.broker import broker_forget, broker_view, live_job_ids
from labeling.services.chunked_jobs import chunk_items
from labeling.services.datasets.exports import export_leftovers_remove
from labeling.services.jobs import job_finish, job_send

MAX_RESENDS = 2
LOST = (
    "The worker running this job was lost {n} times (no progress for {minutes} minutes and no worker holds its "
    "work), so it was stopped; what it finished is kept. Start it again."
)
logger = logging.getLogger(__name__)


def job_resends(job: Job) -> int:
    """How many times the sweep re-sent `job` (its audit rows: a finishing job replaces its result)."""
    return AuditLog.objects.filter(object_type="job", object_id=str(job.pk), action="job.resend").count()


def _missing_work(job: Job) -> list[tuple[str, list]]:
    """The task messages that would finish `job`: a chunked job's unfinished chunks (they record
    `result.chunk_done`), else its one task."""
    spec = job_spec(job.kind)
    name = spec.task
    if not spec.chunked:
        return [(name, [job.pk])]
    done = (job.result or {}).get("chunk_done", {})
    chunks = range(int(job.payload.get("chunks", 0)))
    return [(name, [job.pk, c]) for c in chunks if int(done.get(str(c), 0)) < len(chunk_items(job, c))]


@transaction.atomic
def _resend_or_fail(job: Job) -> str:
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return "finished"
    resent = job_resends(job)
    if resent >= MAX_RESENDS:
        minutes = max(1, round(settings.JOB_STALE_AFTER_S / 60))
        job_finish(job=job, status=JobStatus.FAILED, message=LOST.format(n=resent + 1, minutes=minutes))
        return "failed"
    job.save(update_fields=["updated_at"])  # counts as progress: the next sweep waits for the re-sent work
    work = _missing_work(job)
    audit_log(actor=None, project=job.project_id, action="job.resend", obj=job, data={"messages": len(work)})
    transaction.on_commit(lambda: [job_send(job, name, args) for name, args in work])
    return "resent"


def jobs_sweep() -> dict[str, Any]:
    """Re-send (or fail) the jobs whose work was lost; remove exports' leftover temp files. Returns counts."""
    before = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    stale = list(Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING], updated_at__lt=before))
    outcome: dict[str, Any] = {"stale": len(stale), "alive": [], "resent": [], "failed": [], "leftovers": 0}
    job_tasks = job_task_names()
    live = live_job_ids(job_tasks) if stale else set()
    view = broker_view(job_tasks) if stale else None
    if stale and (live is None or view is None):
        logger.warning("job sweep skipped: the workers or the broker's queues could not be read")
        stale = []  # never re-send (or fail) work that may be alive or waiting
    for job in stale:
        if job.pk in live or view.waiting.get(job.pk):
            outcome["alive"].append(job.pk)  # running somewhere, or waiting for a worker: not lost
            continue
        broker_forget(view.taken.get(job.pk, []))  # a dead worker's copy: dropped, or Redis would redeliver it too
        what = _resend_or_fail(job)
        if what in ("resent", "failed"):
            logger.warning("job %s (%s) had lost its worker: %s", job.pk, job.kind, what)
            outcome[what].append(job.pk)
    outcome["leftovers"] = export_leftovers_remove()
    return outcome
