"""Mask generation for one image on a click: its job on the `interactive` queue and the worker's run, with a
per-process cache of decoded frames (which generator serves: services.serving; storing: services.image_masks)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import numpy as np
from django.db import transaction

from labeling import storage
from labeling.choices import JOB_FINISHED, JobKind, JobStatus
from labeling.models import Image, Job
from labeling.permissions import ANNOTATE, require_role
from labeling.services.image_masks import image_masks_generate
from labeling.services.jobs import job_create, job_enqueue, job_finish
from labeling.services.serving import generator_spec


def image_generate_request(*, image: Image, actor: Any) -> Job:
    """A Job for regenerating the image's masks, sent to the `interactive` queue once the transaction commits."""
    job = job_create(
        project=image.project, kind=JobKind.GENERATE, actor=actor, image=image, payload={"image_id": image.pk}, total=1
    )
    transaction.on_commit(lambda: job_enqueue(job))
    return job


def image_regenerate(*, image: Image, actor: Any) -> Job:
    """A person asks for the image's masks again (image_generate_request is also the import's and the edits')."""
    require_role(actor, image.project, ANNOTATE, "regenerate masks")
    return image_generate_request(image=image, actor=actor)


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
    spec = generator_spec(job.project)
    stored, n_targets, model_seconds = image_masks_generate(image=image, spec=spec, job=job, pixels=_pixels)
    total_ms = (time.perf_counter() - started) * 1000
    job_finish(
        job=job,
        status=JobStatus.SUCCEEDED,
        message=f"{stored} of {n_targets} masks generated",
        result={
            "generator": spec.method,
            "model_version": spec.model_version_id,
            "targets": n_targets,
            "stored": stored,
            "model_ms": round(model_seconds * 1000, 2),
            "worker_ms": round(total_ms, 2),
        },
    )
