"""Test-then-train records: each confirmed frame scored with the masks the team was shown, and with generators'
replays on its confirmed points. Nothing is scored by a generator that learned from the frame.

The shown masks are the ones stored at generation time: a mask the annotator confirmed untouched is the
generator's own; an edited one keeps the generator's last version as a MaskRevision. Their provenance names the
generator (the model version, or none for the project's settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling import ml_adapter, storage
from labeling.choices import JobKind, MaskSource, MaskState, ScoreKind
from labeling.models import FrameScore, Image, Job, Mask, MaskRevision, ModelVersion, Target
from labeling.services.jobs import job_create, job_enqueue
from labeling.services.serving import DEFAULT_KEY

GENERATED = (MaskSource.COLDSTART, MaskSource.MODEL)
COUNTS = ("inter", "union", "n_targets", "n_matched", "n_false", "false_pixels", "n_pixels", "n_merged")


@dataclass
class FrameTruth:
    """A confirmed frame: pixels, the humans' points (target order) and the confirmed masks, per target and
    united."""

    image: Image
    pixels: np.ndarray
    targets: list[Target]
    points: np.ndarray  # (N, 2) float (x, y)
    instances: list[np.ndarray]  # confirmed mask per target (empty where a target has none confirmed)
    union: np.ndarray


def frame_truth(image: Image) -> FrameTruth:
    """The frame as the team confirmed it."""
    targets = list(Target.objects.filter(image=image).order_by("pk"))
    confirmed = {
        m.target_id: m.rle for m in Mask.objects.filter(image=image, state=MaskState.CONFIRMED).only("target_id", "rle")
    }
    shape = (image.height, image.width)
    instances = [
        storage.mask_decode(confirmed[t.pk], *shape) if t.pk in confirmed else np.zeros(shape, bool) for t in targets
    ]
    union = np.zeros(shape, dtype=bool)
    for m in instances:
        union |= m
    points = np.array([[t.x, t.y] for t in targets], dtype=np.float64).reshape(-1, 2)
    return FrameTruth(image, storage.read_pixels(image), targets, points, instances, union)


def frame_score_request(*, image: Image) -> Job:
    """A scoring Job for a frame that was just confirmed, sent to the `loop` queue when the transaction commits
    (the confirmation itself never waits for it)."""
    job = job_create(project=image.project, kind=JobKind.SCORE, actor=None, image=image, payload={"image_id": image.pk})
    transaction.on_commit(lambda: job_enqueue(job))
    return job


def shown_masks(image: Image, targets: list[Target]) -> tuple[list[np.ndarray], str | None, int | None, str]:
    """What the annotator was shown for each target (empty where no generator ever made its mask), and the key,
    version id and label of the generator that made the newest of them (key None: nothing was ever generated,
    e.g. imported labels)."""
    shape = (image.height, image.width)
    masks = {m.target_id: m for m in Mask.objects.filter(image=image)}
    out: list[np.ndarray] = []
    newest: tuple[Any, dict] | None = None
    for target in targets:
        mask = masks.get(target.pk)
        made = None
        if mask is not None and mask.source in GENERATED:
            made = (mask.updated_at, mask.rle, mask.provenance or {})
        elif mask is not None:
            revision = (
                MaskRevision.objects.filter(mask=mask, source__in=GENERATED)
                .order_by("-version")
                .values_list("created_at", "rle", "provenance")
                .first()
            )
            made = revision
        if made is None:
            out.append(np.zeros(shape, dtype=bool))
            continue
        at, rle, provenance = made
        out.append(storage.mask_decode(rle, *shape))
        if newest is None or at > newest[0]:
            newest = (at, provenance)
    if newest is None:
        return out, None, None, ""
    provenance = newest[1]
    version_id = provenance.get("model_version")
    key = f"v{version_id}" if version_id else DEFAULT_KEY
    label = _label_from_provenance(provenance, version_id)
    return out, key, version_id, label


def _label_from_provenance(provenance: dict, version_id: int | None) -> str:
    params = provenance.get("params") or {}
    if provenance.get("generator") == ml_adapter.COLDSTART:
        text = f"cold start α {float(params.get('alpha', 0.35)):.2f}"
    else:
        text = "EDGSP"
    if version_id:
        number = ModelVersion.objects.filter(pk=version_id).values_list("number", flat=True).first()
        return f"v{number} {text}" if number is not None else text
    return text


def _save(truth: FrameTruth, kind: str, key: str, version_id: int | None, label: str, instances: list) -> FrameScore:
    counts = ml_adapter.frame_record(instances, truth.instances, truth.points)
    row = FrameScore(
        project_id=truth.image.project_id,
        image=truth.image,
        kind=kind,
        generator_key=key,
        model_version_id=version_id if ModelVersion.objects.filter(pk=version_id).exists() else None,
        generator=label[:120],
        **{k: int(counts[k]) for k in COUNTS},
    )
    try:
        with transaction.atomic():  # a savepoint: a racing worker's row wins, this one is dropped
            row.save()
    except IntegrityError:
        return FrameScore.objects.get(image=truth.image, kind=kind, generator_key=key)
    return row


def record_shown(truth: FrameTruth) -> FrameScore | None:
    """The frame's prequential record: the masks shown to the team against what they confirmed (once per frame;
    None when no generator ever made its masks)."""
    existing = FrameScore.objects.filter(image=truth.image, kind=ScoreKind.SHOWN).first()
    if existing is not None:
        return existing
    instances, key, version_id, label = shown_masks(truth.image, truth.targets)
    if key is None:
        return None
    return _save(truth, ScoreKind.SHOWN, key, version_id, label, instances)


def record_replay(truth: FrameTruth, key: str, spec: ml_adapter.GeneratorSpec, label: str) -> FrameScore:
    """A generator's masks for the frame's confirmed points, scored (once per frame and generator)."""
    existing = FrameScore.objects.filter(image=truth.image, kind=ScoreKind.REPLAY, generator_key=key).first()
    if existing is not None:
        return existing
    instances = ml_adapter.generator_instances(spec, truth.pixels, truth.points)
    return _save(truth, ScoreKind.REPLAY, key, spec.model_version_id, label, instances)


def score_counts(row: FrameScore) -> dict[str, int]:
    return {k: int(getattr(row, k)) for k in COUNTS}


def frame_iou(row: FrameScore) -> float | None:
    """One frame's IoU in % (None for a frame with no target and no mask)."""
    return 100.0 * row.inter / row.union if row.union else None


def first_confirmed(image: Image) -> None:
    """Stamp the first confirmation (it orders the stream; later re-confirmations keep the first)."""
    if image.first_confirmed_at is None:
        image.first_confirmed_at = timezone.now()
        Image.objects.filter(pk=image.pk, first_confirmed_at__isnull=True).update(
            first_confirmed_at=image.first_confirmed_at
        )
