"""Mask generation for one image: pick the project's generator, run it on a worker, store the predictions."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from django.db import DatabaseError, connection, transaction

from labeling import ml_adapter, storage
from labeling.choices import JOB_FINISHED, JobKind, JobStatus, MaskSource, MaskState
from labeling.models import Image, Job, Mask, ModelVersion, Target
from labeling.services.jobs import job_channel, job_create, job_enqueue, job_finish
from labeling.services.mask_checks import DEFAULT_LARGE_AREA, mask_point_warnings
from labeling.services.masks import mask_store_prediction
from labeling.services.projects import project_settings
from labeling.services.serving import generator_spec, serving_model

__all__ = ["generator_spec", "serving_model", "image_generate", "image_generate_request", "job_wait"]

_EIGHT = np.ones((3, 3), dtype=bool)


def image_generate_request(*, image: Image, actor: Any) -> Job:
    """A Job for regenerating the image's masks, sent to the `interactive` queue once the transaction commits."""
    job = job_create(
        project=image.project, kind=JobKind.GENERATE, actor=actor, image=image, payload={"image_id": image.pk}, total=1
    )
    transaction.on_commit(lambda: job_enqueue(job))
    return job


_JOB_FIELDS = ["status", "progress", "message", "result", "finished_at", "started_at"]
# With LISTEN, the row is still re-read this often: a finish that sends no notification costs at most this much.
NOTIFY_RECHECK_S = 0.25


def job_wait(job: Job, timeout_s: float) -> Job:
    """Wait until the job finishes or `timeout_s` passes; the caller never blocks for long. On PostgreSQL the
    worker's commit wakes the waiter (LISTEN/NOTIFY, sent by job_finish): under load, fifty waiting requests
    polling the job row every few ms cost more CPU than the clicks themselves."""
    if _can_listen():
        return _job_wait_notified(job, timeout_s)
    return _job_wait_polling(job, timeout_s)


def _can_listen() -> bool:
    # LISTEN belongs to the session: not inside a transaction (it would start only at commit), nor behind a
    # transaction-mode pooler such as PgBouncer's, which Django setups mark with DISABLE_SERVER_SIDE_CURSORS.
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    )


def _job_wait_notified(job: Job, timeout_s: float) -> Job:
    deadline = time.monotonic() + max(0.0, timeout_s)
    channel = job_channel(job.pk)
    with connection.cursor() as cursor:
        cursor.execute(f'LISTEN "{channel}"')  # before the first read, so a finish in between is not missed
    try:
        while True:
            job.refresh_from_db(fields=_JOB_FIELDS)
            remaining = deadline - time.monotonic()
            if job.status in JOB_FINISHED or remaining <= 0:
                return job
            with connection.wrap_database_errors:  # a dropped connection raises Django's error, as a query would
                for _ in connection.connection.notifies(timeout=min(remaining, NOTIFY_RECHECK_S), stop_after=1):
                    pass
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'UNLISTEN "{channel}"')
        except DatabaseError:
            pass  # a broken connection listens to nothing; the error that broke it is the one to report


def _job_wait_polling(job: Job, timeout_s: float) -> Job:
    started = time.monotonic()
    deadline = started + max(0.0, timeout_s)
    while True:
        job.refresh_from_db(fields=_JOB_FIELDS)
        now = time.monotonic()
        if job.status in JOB_FINISHED or now >= deadline:
            return job
        # a click's job takes tens of ms: look often at first (a PK read costs ~0.3 ms), then back off
        time.sleep(0.003 if now - started < 0.25 else 0.02)


_PIXEL_CACHE: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
_PIXEL_CACHE_SIZE = 8


def _pixels(image: Image) -> np.ndarray:
    """Decoded pixels, cached per worker process: every click on an image reuses one decode."""
    key = (image.pk, image.content_hash)
    pixels = _PIXEL_CACHE.get(key)
    if pixels is None:
        pixels = storage.read_pixels(image)
        _PIXEL_CACHE[key] = pixels
        while len(_PIXEL_CACHE) > _PIXEL_CACHE_SIZE:
            _PIXEL_CACHE.popitem(last=False)
    _PIXEL_CACHE.move_to_end(key)
    return pixels


def _warnings(
    mask: np.ndarray, own: np.ndarray, coverage: np.ndarray, fallback: bool, adhesion: bool, large: int
) -> list[str]:
    """Review flags for one target. `coverage` counts the masks over each pixel, `own` is the target's mask in
    it: their difference is the other targets' masks, read only around this mask (no full frame per target)."""
    import cv2

    found = []
    if fallback:
        found.append("fallback")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows):
        y0, y1 = max(rows[0] - 1, 0), rows[-1] + 2
        x0, x1 = max(cols[0] - 1, 0), cols[-1] + 2
        grown = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), _EIGHT.astype(np.uint8)).astype(bool)
        others = coverage[y0:y1, x0:x1] > own[y0:y1, x0:x1]
        adhesion = adhesion or bool(np.any(grown & others))
    if adhesion:
        found.append("adhesion")
    if int(mask.sum()) > large:
        found.append("too_large")
    return found


def image_generate(*, job_id: int) -> None:
    """Run by the worker: generate every target's mask of the job's image (idempotent; human edits are kept)."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return  # deleted with its project, cancelled, or already done by an earlier delivery
    started = time.perf_counter()
    image = Image.objects.filter(pk=job.payload.get("image_id")).first()
    if image is None:
        job_finish(job=job, status=JobStatus.FAILED, message="The image was deleted before its masks were made.")
        return
    newer = Job.objects.filter(image=image, kind=JobKind.GENERATE, pk__gt=job.pk, status=JobStatus.QUEUED).first()
    if newer is not None:  # a later click already asked for the same image: its job does the work once
        job_finish(job=job, message=f"superseded by job {newer.pk}", result={"superseded_by": newer.pk})
        return
    targets = list(Target.objects.filter(image=image).order_by("pk"))
    spec = generator_spec(job.project)
    stored = 0
    model_seconds = 0.0
    if targets:
        pixels = _pixels(image)
        points = np.array([[t.x, t.y] for t in targets], dtype=np.float64)
        out = ml_adapter.generate_masks(pixels, points, spec, [t.tightness for t in targets])
        model_seconds = out.model_seconds
        stored = _store(image, targets, out, spec, job)
    total_ms = (time.perf_counter() - started) * 1000
    job_finish(
        job=job,
        status=JobStatus.SUCCEEDED,
        message=f"{stored} of {len(targets)} masks generated",
        result={
            "generator": spec.method,
            "model_version": spec.model_version_id,
            "targets": len(targets),
            "stored": stored,
            "model_ms": round(model_seconds * 1000, 2),
            "worker_ms": round(total_ms, 2),
        },
    )


def _store(image: Image, targets: list[Target], out: ml_adapter.GenerationOutput, spec: Any, job: Job) -> int:
    large = int(project_settings(image.project)["generator"].get("large_area", DEFAULT_LARGE_AREA))
    existing = {m.target_id: m for m in Mask.objects.filter(image=image)}
    human = {
        pk: storage.mask_decode(m.rle, image.height, image.width)
        for pk, m in existing.items()
        if m.state not in (MaskState.PREDICTED, MaskState.REJECTED)
    }
    model = ModelVersion.objects.filter(pk=spec.model_version_id).first() if spec.model_version_id else None
    source = MaskSource.MODEL if spec.method == ml_adapter.EDGSP else MaskSource.COLDSTART
    final = [human.get(t.pk, out.masks[j]) for j, t in enumerate(targets)]
    coverage = np.zeros((image.height, image.width), dtype=np.uint16)  # how many masks cover each pixel
    for mask in final:
        coverage += mask
    stored = 0
    for i, target in enumerate(targets):
        provenance = {
            "generator": spec.method,
            "params": out.params,
            "model_version": spec.model_version_id,
            "clicks": [[t.x, t.y] for t in targets],
            "target_point": [target.x, target.y],
            "target_version": target.version,
            "raster_digest": _digest(out.masks[i]),
            "job": job.pk,
        }
        warnings = _warnings(out.masks[i], final[i], coverage, out.fallback[i], out.adhesion[i], large)
        warnings += mask_point_warnings(out.masks[i], target.x, target.y)
        if _unchanged(existing.get(target.pk), out.masks[i], warnings, spec, target):
            continue  # same pixels, same flags, same point: no write, no revision
        with transaction.atomic():
            current = Target.objects.select_for_update().filter(pk=target.pk).values_list("version", flat=True).first()
            if current != target.version:
                continue  # moved or deleted meanwhile: the job its change enqueued makes that mask
            saved = mask_store_prediction(
                target=target,
                raster=out.masks[i],
                source=source,
                model_version=model,
                provenance=provenance,
                warnings=warnings,
            )
        stored += saved is not None
    return stored


def _unchanged(mask: Mask | None, raster: np.ndarray, warnings: list[str], spec: Any, target: Target) -> bool:
    if mask is None or mask.state != MaskState.PREDICTED or mask.warnings != warnings:
        return False
    same_maker = mask.model_version_id == spec.model_version_id and mask.provenance.get("generator") == spec.method
    same_point = mask.provenance.get("target_version") == target.version
    return same_maker and same_point and mask.provenance.get("raster_digest") == _digest(raster)


def _digest(raster: np.ndarray) -> str:
    """A fingerprint of a full-frame mask read from its bounding box only (cheap next to an RLE encode)."""
    rows, cols = np.flatnonzero(raster.any(axis=1)), np.flatnonzero(raster.any(axis=0))
    if not len(rows):
        return "empty"
    crop = raster[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    box = np.array([rows[0], rows[-1], cols[0], cols[-1]], dtype=np.int64).tobytes()
    return hashlib.sha1(box + np.packbits(crop).tobytes()).hexdigest()
