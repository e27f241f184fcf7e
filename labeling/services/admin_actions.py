"""Bulk operations behind the Django admin's actions (staff only), audited like any other write."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet

from labeling.choices import JobStatus, Split
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job
from labeling.services.audit import audit_log
from labeling.services.jobs import job_enqueue


@transaction.atomic
def images_set_split(*, images: QuerySet[Image], split: str, actor: Any) -> int:
    """Move many images to one split; each moved image's version is bumped so stale editors get 409."""
    if split not in Split.values:
        raise ApplicationError(f"Unknown split {split!r}.")
    moved = list(images.exclude(split=split).select_for_update().values_list("pk", "project_id"))
    Image.objects.filter(pk__in=[pk for pk, _ in moved]).update(split=split, version=F("version") + 1)
    for pk, project_id in moved:
        audit_log(actor=actor, project=project_id, action="image.split", obj=Image(pk=pk), data={"split": split})
    return len(moved)


@transaction.atomic
def job_requeue(*, job: Job, actor: Any) -> Job:
    """Put a failed or cancelled job back on its queue (tasks are idempotent, so a rerun is safe)."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise ApplicationError(f"Job {job.pk} is {job.status}; only failed or cancelled jobs can be re-queued.")
    job.status, job.progress, job.done, job.message = JobStatus.QUEUED, 0, 0, "re-queued"
    job.started_at = job.finished_at = None
    job.attempts += 1
    job.save()
    audit_log(actor=actor, project=job.project_id, action="job.requeue", obj=job, data={"attempt": job.attempts})
    transaction.on_commit(lambda: job_enqueue(job))
    return job
