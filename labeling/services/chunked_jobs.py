"""Batch jobs split in chunks (pre-label, detection): the one runner that resumes, counts and finishes them.

A chunk is one task message over a slice of `payload.image_ids`. A redelivered chunk (a lost worker, the sweep)
resumes after its last finished item and counts nothing twice; a chunk whose worker was lost
`MAX_CHUNK_ATTEMPTS` times is given up (its items become job errors) instead of killing workers for ever; one bad
item never stops the batch. The job finishes when every item of every chunk is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, transaction

from labeling.choices import JOB_FINISHED, JobStatus
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Project
from labeling.services.jobs import job_create, job_enqueue_chunks, job_finish, job_update_progress

MAX_CHUNK_ATTEMPTS = 3
MAX_SELECTION = 100_000  # image_ids one request may name
NOT_RETRIED_HERE = (OperationalError, InterfaceError, SoftTimeLimitExceeded)  # the task's policy decides


def selection_ids(project: Project, image_ids: list[int] | None, candidates: Any, among: Any = None) -> list[int]:
    """The frames a batch job works on, by id: every one of `candidates`, or those of `among` (default: the
    candidates) that `image_ids` names; 400 naming the ids that are not in the project, so that nothing of another
    project is ever touched."""
    if image_ids is None:
        return list(candidates.order_by("pk").values_list("pk", flat=True))
    if len(image_ids) > MAX_SELECTION:
        raise ApplicationError(f"image_ids may list at most {MAX_SELECTION} images.", extra={"field": "image_ids"})
    wanted = set(image_ids)
    missing = sorted(wanted - set(Image.objects.filter(project=project, pk__in=wanted).values_list("pk", flat=True)))
    if missing:
        raise ApplicationError(
            f"image_ids: {len(missing)} images are not in this project (first: {missing[:5]}).",
            extra={"field": "image_ids", "missing": missing[:50]},
        )
    return list(
        (candidates if among is None else among).filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True)
    )


def chunked_job_start(
    *,
    project: Project,
    kind: str,
    actor: Any,
    ids: list[int],
    chunk_size: int,
    empty: tuple[str, dict[str, Any]],
    image: Image | None = None,
    **payload: Any,
) -> Job:
    """A batch Job over `ids` in chunks of `chunk_size` (one task each, sent on commit); with nothing to do it is
    finished at once with the `empty` (message, result)."""
    chunks = (len(ids) + chunk_size - 1) // chunk_size
    body = {"image_ids": ids, "chunk_size": chunk_size, "chunks": chunks, **payload}
    job = job_create(project=project, kind=kind, actor=actor, payload=body, total=len(ids), image=image)
    if not ids:
        return job_finish(job=job, message=empty[0], result=empty[1])
    job_enqueue_chunks(job, chunks)
    return job


def chunk_items(job: Job, chunk: int) -> list[int]:
    size = int(job.payload.get("chunk_size", 1))
    return job.payload.get("image_ids", [])[chunk * size : (chunk + 1) * size]


def chunk_run(
    *,
    job_id: int,
    chunk: int,
    item: Callable[[Job, int], int],
    finish: Callable[[Job, int], None],
    lost: str,
) -> None:
    """Run `item(job, image_id)` (returns how many things it made) over the chunk's unfinished items; once the
    whole job is done, `finish(job, made)` writes its message with `made` summed over every item exactly once.
    `lost` is the error recorded for the items of a chunk given up after repeated worker losses."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    ids = chunk_items(job, chunk)
    job, start, give_up = _chunk_begin(job, chunk, len(ids))
    if give_up:
        for k in range(start, len(ids)):
            job = _chunk_advance(job, chunk, k + 1, 0, {"item": ids[k], "message": lost})
        start = len(ids)
    for k in range(start, len(ids)):
        if job.status == JobStatus.CANCELLED:
            return
        made, error = 0, None
        try:
            made = item(job, ids[k])
        except NOT_RETRIED_HERE:
            raise
        except Exception as exc:  # one bad item never stops the batch: it is listed in the job's errors
            error = {"item": ids[k], "message": getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"}
        job = _chunk_advance(job, chunk, k + 1, made, error)
    job = Job.objects.get(pk=job.pk)
    if job.status not in JOB_FINISHED and job.done >= job.total:
        finish(job, sum((job.result or {}).get("chunk_made", {}).values()))


@transaction.atomic
def _chunk_begin(job: Job, chunk: int, n_items: int) -> tuple[Job, int, bool]:
    """Count the attempt; return (job, index to resume at, whether to give up on the chunk)."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    result = dict(locked.result or {})
    start = int(result.get("chunk_done", {}).get(str(chunk), 0))
    if start >= n_items:
        return locked, start, False  # a duplicate delivery of a finished chunk: not an attempt
    attempts = dict(result.get("chunk_attempts", {}))
    attempts[str(chunk)] = attempts.get(str(chunk), 0) + 1
    result["chunk_attempts"] = attempts
    locked.result = result
    locked.save(update_fields=["result"])
    return job_update_progress(job=locked), start, attempts[str(chunk)] > MAX_CHUNK_ATTEMPTS


@transaction.atomic
def _chunk_advance(job: Job, chunk: int, index: int, made: int, error: dict | None) -> Job:
    """Record that the chunk finished its item `index - 1`, in one transaction with what it made: a resumed chunk
    starts at its `chunk_done` with its `chunk_made` counting exactly the items before it, so nothing counts twice
    (and the job row grows with its chunks, not its items)."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if locked.status in JOB_FINISHED:
        return locked
    result = dict(locked.result or {})
    done = dict(result.get("chunk_done", {}))
    done[str(chunk)] = index
    result["chunk_done"] = done
    chunk_made = dict(result.get("chunk_made", {}))
    chunk_made[str(chunk)] = chunk_made.get(str(chunk), 0) + made
    result["chunk_made"] = chunk_made
    locked.result = result
    locked.save(update_fields=["result"])
    return job_update_progress(job=locked, done=sum(done.values()), errors=[error] if error else None)
