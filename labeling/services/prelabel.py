"""Batch pre-labeling: masks for a whole project or a selection, as one Job split in chunks over `batch` workers.

Each chunk is its own task, so M batch workers share a big project. Progress (done/total, per-image errors)
lives in the Job; a chunk checks the job between images and stops when it was cancelled. Worker faults: a
chunk whose worker dies is redelivered and resumes after its last finished image (its progress is in
Job.result); a chunk lost MAX_CHUNK_ATTEMPTS times records its remaining images as errors. Predictions never
overwrite a human edit (mask_store_prediction) and stay `predicted` until a human confirms them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Exists, OuterRef, Q

from labeling import ml_adapter, storage
from labeling.choices import JOB_FINISHED, ImageStatus, JobKind, JobStatus, MaskState
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Mask, Project, Target
from labeling.permissions import MANAGE, require_role
from labeling.services.generation import _store, generator_spec
from labeling.services.jobs import job_create, job_enqueue_chunks, job_finish, job_update_progress

CHUNK_SIZE = 16  # images per task: small enough to spread over workers, big enough to keep a model warm
MAX_CHUNK_ATTEMPTS = 3
MAX_SELECTION = 100_000
_NOT_RETRIED_HERE = (OperationalError, InterfaceError, SoftTimeLimitExceeded)  # the task's policy decides


def prelabel_candidates(project: Project, *, include_predicted: bool = True) -> Any:
    """Images with targets still needing a machine mask: a target without a mask, or (include_predicted) only
    predicted ones, e.g. after a new model is promoted. Confirmed images are left alone."""
    without_mask = Target.objects.filter(image=OuterRef("pk"), mask__isnull=True)
    predicted = Mask.objects.filter(image=OuterRef("pk"), state=MaskState.PREDICTED)
    condition = Q(Exists(without_mask)) | (Q(Exists(predicted)) if include_predicted else Q(pk__in=[]))
    return Image.objects.filter(project=project).exclude(status=ImageStatus.CONFIRMED).filter(condition).order_by("pk")


def _selection(project: Project, image_ids: list[int] | None, include_predicted: bool) -> list[int]:
    candidates = prelabel_candidates(project, include_predicted=include_predicted)
    if image_ids is None:
        return list(candidates.values_list("pk", flat=True))
    if len(image_ids) > MAX_SELECTION:
        raise ApplicationError(f"image_ids may list at most {MAX_SELECTION} images.", extra={"field": "image_ids"})
    wanted = set(image_ids)
    found = set(Image.objects.filter(project=project, pk__in=wanted).values_list("pk", flat=True))
    missing = sorted(wanted - found)
    if missing:
        raise ApplicationError(
            f"image_ids: {len(missing)} images are not in this project (first: {missing[:5]}).",
            extra={"field": "image_ids", "missing": missing[:50]},
        )
    return list(candidates.filter(pk__in=wanted).values_list("pk", flat=True))


@transaction.atomic
def project_prelabel_request(
    *, project: Project, actor: Any, image_ids: list[int] | None = None, include_predicted: bool = True
) -> Job:
    """A pre-labeling Job over the project (or `image_ids`); its chunks go to the `batch` queue on commit."""
    if actor is not None:
        require_role(actor, project, MANAGE, "start pre-labeling")
    ids = _selection(project, image_ids, include_predicted)
    chunks = (len(ids) + CHUNK_SIZE - 1) // CHUNK_SIZE
    payload = {"image_ids": ids, "chunk_size": CHUNK_SIZE, "chunks": chunks, "include_predicted": include_predicted}
    job = job_create(project=project, kind=JobKind.PRELABEL, actor=actor, payload=payload, total=len(ids))
    if not ids:
        return job_finish(job=job, message="nothing to pre-label", result={"stored": 0})

    job_enqueue_chunks(job, chunks)
    return job


@transaction.atomic
def _chunk_begin(job: Job, chunk: int) -> tuple[Job, int, bool]:
    """Count the attempt; return (job, index to resume at, whether to give up on the chunk)."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    result = dict(locked.result or {})
    start = int(result.get("chunk_done", {}).get(str(chunk), 0))
    size = int(locked.payload.get("chunk_size", CHUNK_SIZE))
    if start >= len(locked.payload.get("image_ids", [])[chunk * size : (chunk + 1) * size]):
        return locked, start, False  # a duplicate delivery of a finished chunk: not an attempt
    attempts = dict(result.get("chunk_attempts", {}))
    attempts[str(chunk)] = attempts.get(str(chunk), 0) + 1
    result["chunk_attempts"] = attempts
    locked.result = result
    locked.save(update_fields=["result"])
    return job_update_progress(job=locked), start, attempts[str(chunk)] > MAX_CHUNK_ATTEMPTS


@transaction.atomic
def _chunk_advance(job: Job, chunk: int, index: int, stored: int, error: dict | None) -> Job:
    """Record that the chunk finished its image `index - 1`: done = the sum over chunks (so a resumed chunk never
    counts an image twice)."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if locked.status in JOB_FINISHED:
        return locked
    result = dict(locked.result or {})
    done = dict(result.get("chunk_done", {}))
    done[str(chunk)] = index
    result["chunk_done"] = done
    result["stored"] = int(result.get("stored", 0)) + stored
    locked.result = result
    locked.save(update_fields=["result"])
    return job_update_progress(job=locked, done=sum(done.values()), errors=[error] if error else None)


def _prelabel_image(image_id: int, spec: ml_adapter.GeneratorSpec, job: Job) -> int:
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        raise ApplicationError("the image was deleted")
    targets = list(Target.objects.filter(image=image).order_by("pk"))
    if not targets:
        return 0
    pixels = storage.read_pixels(image)
    points = np.array([[t.x, t.y] for t in targets], dtype=np.float64)
    out = ml_adapter.generate_masks(pixels, points, spec, [t.tightness for t in targets])
    return _store(image, targets, out, spec, job)


def project_prelabel(*, job_id: int, chunk: int = 0) -> None:
    """Run by a `batch` worker: pre-label one chunk of the job's images, resuming after a lost worker."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    size = int(job.payload.get("chunk_size", CHUNK_SIZE))
    ids = job.payload.get("image_ids", [])[chunk * size : (chunk + 1) * size]
    job, start, give_up = _chunk_begin(job, chunk)
    if give_up:
        for k in range(start, len(ids)):
            lost = {"item": ids[k], "message": "the worker was lost repeatedly while pre-labeling this chunk"}
            job = _chunk_advance(job, chunk, k + 1, 0, lost)
    spec = generator_spec(job.project)
    for k in range(start if not give_up else len(ids), len(ids)):
        if job.status == JobStatus.CANCELLED:
            return
        stored, error = 0, None
        try:
            stored = _prelabel_image(ids[k], spec, job)
        except _NOT_RETRIED_HERE:
            raise
        except Exception as exc:  # one bad image never stops the batch: it is listed in the job's errors
            error = {"item": ids[k], "message": getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"}
        job = _chunk_advance(job, chunk, k + 1, stored, error)
    _finish_if_complete(job)


def _finish_if_complete(job: Job) -> None:
    job = Job.objects.get(pk=job.pk)
    if job.status in JOB_FINISHED or job.done < job.total:
        return
    n_errors = len(job.errors)
    # Counted in the database, not summed per image: a chunk killed after storing an image's masks redoes that
    # image, and the redo skips the masks already there (unchanged), so a running sum would miss them.
    stored = Mask.objects.filter(image_id__in=job.payload.get("image_ids", []), provenance__job=job.pk).count()
    job_finish(
        job=job,
        message=f"{job.total - n_errors} of {job.total} images pre-labeled ({stored} masks), {n_errors} errors",
        result={**job.result, "stored": stored, "images": job.total, "errors": n_errors},
    )
