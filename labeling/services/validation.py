"""The learning loop's data: a frozen train/validation split of confirmed images, their samples, and the gate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction

from labeling import ml_adapter, storage
from labeling.choices import ImageStatus, MaskState, Split
from labeling.models import Image, Mask, Project, Target

VAL_PERCENT = 20  # about this share of confirmed images validates, forever
MIN_VAL_IMAGES = 10  # below this the gate cannot tell models apart: it says so and promotes nothing


def loop_split_of(image_id: int) -> str:
    """Train or validation for an image id: a stable hash, the same on every machine and every run."""
    bucket = int(hashlib.sha256(f"edgsp-loop:{image_id}".encode()).hexdigest()[:8], 16) % 100
    return Split.VAL if bucket < VAL_PERCENT else Split.TRAIN


@transaction.atomic
def images_assign_loop_split(*, project: Project) -> int:
    """Give every confirmed image that has none its split; an assigned image never moves (no leak into training).
    Returns how many images were assigned now."""
    pending = list(
        Image.objects.filter(project=project, status=ImageStatus.CONFIRMED, loop_split="").values_list("pk", flat=True)
    )
    by_split: dict[str, list[int]] = {Split.TRAIN: [], Split.VAL: []}
    for pk in pending:
        by_split[loop_split_of(pk)].append(pk)
    for split, pks in by_split.items():
        # The loop_split="" filter keeps an assignment made meanwhile by another process.
        Image.objects.filter(pk__in=pks, loop_split="").update(loop_split=split)
    return len(pending)


def confirmed_ids(project: Project) -> dict[str, list[int]]:
    """The confirmed images' ids per frozen split (assign first with images_assign_loop_split)."""
    rows = Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).exclude(loop_split="")
    out: dict[str, list[int]] = {Split.TRAIN: [], Split.VAL: []}
    for pk, split in rows.values_list("pk", "loop_split").order_by("pk"):
        out.setdefault(split, []).append(pk)
    return out


def ids_hash(ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(ids)).encode()).hexdigest()


@dataclass
class LoopSample:
    image_id: int
    pixels: np.ndarray  # (H, W) raw
    points: np.ndarray  # (N, 2) float (x, y): the humans' clicks
    mask: np.ndarray  # (H, W) bool: union of the confirmed masks


def loop_samples(image_ids: list[int]) -> list[LoopSample]:
    """Pixels, points and the confirmed union mask of each image (the humans' labels are the ground truth)."""
    images = Image.objects.in_bulk(image_ids)
    points: dict[int, list[list[float]]] = {}
    for image_id, x, y in (
        Target.objects.filter(image_id__in=image_ids).order_by("pk").values_list("image_id", "x", "y")
    ):
        points.setdefault(image_id, []).append([x, y])
    masks: dict[int, list[str]] = {}
    for image_id, rle in Mask.objects.filter(image_id__in=image_ids, state=MaskState.CONFIRMED).values_list(
        "image_id", "rle"
    ):
        masks.setdefault(image_id, []).append(rle)
    out = []
    for pk in image_ids:
        image = images.get(pk)
        if image is None:
            continue  # deleted since
        union = np.zeros((image.height, image.width), dtype=bool)
        for rle in masks.get(pk, []):
            union |= storage.mask_decode(rle, image.height, image.width)
        pts = np.asarray(points.get(pk, []), dtype=np.float64).reshape(-1, 2)
        out.append(LoopSample(pk, storage.read_pixels(image), pts, union))
    return out


def gate_decide(comparison: dict[str, Any], n_val: int, pd_tolerance: float, fat_tolerance: float) -> tuple[bool, str]:
    """Promote only on a large enough validation set, an IoU gain that the paired bootstrap says is real (its
    one-sided lower bound above zero), and Pd/Fat no worse than the tolerances."""
    candidate, serving, gain = comparison["candidate"], comparison["serving"], comparison["iou_gain"]
    if n_val < MIN_VAL_IMAGES:
        return False, f"validation set too small to decide ({n_val} < {MIN_VAL_IMAGES} images); not promoted"
    if candidate["iou"] <= serving["iou"]:
        return False, f"IoU {candidate['iou']:.2f} is not better than the serving model's {serving['iou']:.2f}"
    if gain["lower"] <= 0.0:
        return False, (
            f"IoU {candidate['iou']:.2f} > {serving['iou']:.2f}, but the gain of {gain['gain']:+.2f} is not sure on "
            f"{n_val} images (its {comparison['confidence']:.0%} lower bound is {gain['lower']:+.2f}); not promoted"
        )
    if candidate["pd"] < serving["pd"] - pd_tolerance:
        return False, f"Pd {candidate['pd']:.2f} is worse than {serving['pd']:.2f} beyond the {pd_tolerance} tolerance"
    if candidate["fat"] > serving["fat"] + fat_tolerance:
        return False, (
            f"Fat {candidate['fat']:.2f} is worse than {serving['fat']:.2f} beyond the {fat_tolerance} tolerance"
        )
    return True, (
        f"IoU {candidate['iou']:.2f} > {serving['iou']:.2f} (gain {gain['gain']:+.2f}, {comparison['confidence']:.0%} "
        f"lower bound {gain['lower']:+.2f}) with Pd and Fat within tolerance; promoted"
    )


def gate_score(spec: ml_adapter.GeneratorSpec, samples: list[LoopSample]) -> dict[str, Any]:
    """IoU, Pd, Fat, Fa of a generator on the validation samples (empty set -> {})."""
    if not samples:
        return {}
    return ml_adapter.score(spec, [(s.pixels, s.points, s.mask) for s in samples])


def gate_compare(
    candidate: ml_adapter.GeneratorSpec,
    serving: ml_adapter.GeneratorSpec,
    samples: list[LoopSample],
    confidence: float,
) -> dict[str, Any]:
    """Both models on the same validation samples, with the bootstrap bound on the IoU gain (empty set -> {})."""
    if not samples:
        return {}
    out = ml_adapter.compare(candidate, serving, [(s.pixels, s.points, s.mask) for s in samples], confidence)
    return {**out, "confidence": confidence}
