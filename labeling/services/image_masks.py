"""An image's masks made by a generator and stored as predictions: the one path for a click's job (interactive) and
pre-labeling (batch). Human edits are never overwritten; a mask whose pixels, flags and point did not change is not
written again (no revision)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
from django.db import transaction

from labeling import ml_adapter, storage
from labeling.choices import MaskSource, MaskState
from labeling.models import Image, Job, Mask, ModelVersion, Target
from labeling.services.mask_checks import DEFAULT_LARGE_AREA, mask_point_warnings
from labeling.services.masks import mask_store_prediction
from labeling.services.projects import project_settings


def image_masks_generate(
    *,
    image: Image,
    spec: ml_adapter.GeneratorSpec,
    job: Job,
    pixels: Callable[[Image], np.ndarray] = storage.read_pixels,
) -> tuple[int, int, float]:
    """Make every target's mask of `image` with `spec` and store the predictions; returns (stored, targets, model
    seconds). `pixels` decodes the frame (a worker's cache for clicks), only when the image has targets."""
    targets = list(Target.objects.filter(image=image).order_by("pk"))
    if not targets:
        return 0, 0, 0.0
    pixels = pixels(image)
    points = np.array([[t.x, t.y] for t in targets], dtype=np.float64)
    out = ml_adapter.generate_masks(pixels, points, spec, [t.tightness for t in targets])
    return image_masks_store(image, targets, out, spec, job), len(targets), out.model_seconds


def image_masks_store(
    image: Image, targets: list[Target], out: ml_adapter.GenerationOutput, spec: Any, job: Job
) -> int:
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
        warnings = ml_adapter.mask_review_flags(
            out.masks[i], final[i], coverage, out.fallback[i], out.adhesion[i], large
        )
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
