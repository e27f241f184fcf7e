"""The learning loop's data: confirmed frames as the humans labelled them (pixels, clicks, confirmed union mask)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from labeling import ml_adapter, storage
from labeling.choices import MaskState
from labeling.models import Image, Mask, Target


def ids_hash(ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(ids)).encode()).hexdigest()


@dataclass
class LoopSample:
    image_id: int
    pixels: np.ndarray  # (H, W) raw
    points: np.ndarray  # (N, 2) float (x, y): the humans' clicks
    mask: np.ndarray  # (H, W) bool: union of the confirmed masks
    touching: bool = False  # two of its confirmed target masks touch (ml_adapter.masks_touch)


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
        instances = [storage.mask_decode(rle, image.height, image.width) for rle in masks.get(pk, [])]
        union = np.zeros((image.height, image.width), dtype=bool)
        for m in instances:
            union |= m
        pts = np.asarray(points.get(pk, []), dtype=np.float64).reshape(-1, 2)
        out.append(LoopSample(pk, storage.read_pixels(image), pts, union, ml_adapter.masks_touch(instances)))
    return out
