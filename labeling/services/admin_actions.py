"""Bulk operations behind the Django admin's actions (staff only), audited like any other write."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet

from labeling.choices import JobStatus, MaskState, Split
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Mask, Project
from labeling.permissions import operator
from labeling.services.audit import audit_log
from labeling.services.images import image_delete
from labeling.services.jobs import job_enqueue


@transaction.atomic
def images_set_split(*, images: QuerySet[Image], split: str, actor: Any) -> int:
    """Move many images to one split; each moved image's version is bumped so stale editors get 409."""
    if split not in Split.values:
        raise ApplicationError(f"Unknown split {split!r}.")
    moved = list(images.exclude(split=split).select_for_update().values_list("pk", "project_id", "split"))
    Image.objects.filter(pk__in=[pk for pk, _, _ in moved]).update(split=split, version=F("version") + 1)
    for pk, project_id, previous in moved:
        audit_log(
            actor=actor,
            project=project_id,
            action="image.split",
            obj=Image(pk=pk),
            data={"split": split, "from": previous, "to": split},
        )
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


@transaction.atomic
def images_delete(*, images: QuerySet[Image], actor: Any) -> int:
    """The admin's delete of images goes through image_delete, so it is audited like the API's (human-made masks
    kept in the log, the file removed after commit) instead of a silent cascade."""
    count = 0
    with operator():  # the admin site is for staff: no project role is asked of them
        for image in images.select_related("project").select_for_update(of=("self",)):
            image_delete(image=image, actor=actor)
            count += 1
    return count


@transaction.atomic
def projects_delete(*, projects: QuerySet[Project], actor: Any) -> int:
    """The admin's delete of whole projects: one audit row each, saying how many images and confirmed masks went."""
    count = 0
    for project in projects.select_for_update():
        data = {
            "name": project.name,
            "via": "admin",
            "images": Image.objects.filter(project=project).count(),
            "confirmed_masks": Mask.objects.filter(image__project=project, state=MaskState.CONFIRMED).count(),
        }
        audit_log(actor=actor, project=None, action="project.delete", obj=project, data=data)
        project.delete()
        count += 1
    return count
