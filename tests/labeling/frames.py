"""Synthetic IR frames for the service and API tests (imported, not fixtures): blobs with disk masks, projects
of confirmed frames with a tiny retraining recipe, and frames labelled as in the app."""

from __future__ import annotations

import numpy as np
from django.utils import timezone

from labeling.choices import ImageStatus, MaskSource, MaskState, Role
from labeling.models import Image, Project
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory

# A few seconds of a small net on 48-px crops: enough to exercise the whole loop, fast on 2 cores.
TINY_RETRAIN = {
    "time_budget_s": 2,
    "min_interval_minutes": 0,
    "prelabel_on_promote": False,
    "base_weights_candidate": False,
    "train_overrides": {"batch_size": 4, "crop_size": 48, "eval_every": 10, "warmup_steps": 5},
}


def blob_frame(seed: int, size: int = 48, n: int = 2) -> tuple[np.ndarray, list[tuple[float, float]], np.ndarray]:
    """A 16-bit frame with `n` Gaussian targets, their centres (x, y) and the union of their disk masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    frame = 8000 + rng.normal(0, 40, (size, size))
    mask = np.zeros((size, size), bool)
    centres: list[tuple[float, float]] = []
    while len(centres) < n:
        cx, cy = (float(v) for v in rng.integers(6, size - 6, 2))
        if any(abs(cx - x) + abs(cy - y) < 12 for x, y in centres):
            continue
        centres.append((cx, cy))
        frame += 20000 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.6**2))
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 5
    return np.clip(frame, 0, 65535).astype(np.uint16), centres, mask


def confirmed_image(project: Project, seed: int, status: str = ImageStatus.CONFIRMED) -> Image:
    """An image whose targets carry confirmed masks (the human's labels) of one blob each."""
    pixels, centres, _ = blob_frame(seed)
    first = timezone.now() if status == ImageStatus.CONFIRMED else None
    image = ImageFactory(
        project=project, pixels=pixels, status=status, original_name=f"blob_{seed}.png", first_confirmed_at=first
    )
    yy, xx = np.mgrid[0 : image.height, 0 : image.width]
    for cx, cy in centres:
        target = TargetFactory(image=image, x=cx, y=cy)
        raster = (yy - cy) ** 2 + (xx - cx) ** 2 <= 5
        state = MaskState.CONFIRMED if status == ImageStatus.CONFIRMED else MaskState.PREDICTED
        MaskFactory(target=target, raster=raster, source=MaskSource.HUMAN, state=state)
    return image


def loop_project(n_confirmed: int = 0, retrain: dict | None = None) -> tuple[Project, object]:
    """A project with the tiny retraining recipe and `n_confirmed` confirmed images; returns (project, manager)."""
    project = ProjectFactory(settings={"retrain": {**TINY_RETRAIN, **(retrain or {})}})
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    for seed in range(n_confirmed):
        confirmed_image(project, seed)
    return project, manager


def disk_masks(centres: list[tuple[float, float]], size: int, radius2: float) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    return [(yy - cy) ** 2 + (xx - cx) ** 2 <= radius2 for cx, cy in centres]


def stream_frame(project: Project, user, seed: int, radius2: float = 5, size: int = 48, score: bool = True) -> Image:
    """One frame labelled as in the app: points clicked, the serving generator's masks made (what the annotator is
    shown), each mask replaced by the "truth" (disks of squared radius `radius2`: 5 is SIRST-like, 13 halo-style)
    where it differs, the frame confirmed and (with `score`) its scoring job run in process. Returns the image."""
    from labeling.choices import JobKind
    from labeling.models import Job, Mask
    from labeling.services.generation import image_generate
    from labeling.services.images import image_confirm
    from labeling.services.jobs import job_create
    from labeling.services.loop import frame_score
    from labeling.services.masks import mask_replace

    pixels, centres, _ = blob_frame(seed, size=size)
    image = ImageFactory(project=project, pixels=pixels, status=ImageStatus.IN_PROGRESS, original_name=f"s{seed}.png")
    targets = [TargetFactory(image=image, x=cx, y=cy) for cx, cy in centres]
    job = job_create(project=project, kind=JobKind.GENERATE, actor=user, image=image, payload={"image_id": image.pk})
    image_generate(job_id=job.pk)
    for target, truth in zip(targets, disk_masks(centres, size, radius2), strict=True):
        mask = Mask.objects.get(target=target)
        mask_replace(target=target, raster=truth, version=mask.version, actor=user)
    image.refresh_from_db()
    image_confirm(image=image, actor=user)
    if score:
        frame_score(job_id=Job.objects.filter(image=image, kind=JobKind.SCORE).order_by("-pk").first().pk)
    return image


def crowded_image(project: Project, seed: int, n: int = 24) -> Image:
    """A 256x256 frame with `n` point-labelled targets and no masks: slow enough to be caught mid-batch."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256]
    frame = 8000 + rng.normal(0, 40, (256, 256))
    points = [(20.0 + (i % 6) * 40, 20.0 + (i // 6) * 50) for i in range(n)]
    for x, y in points:
        frame += 20000 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.6**2))
    image = ImageFactory(project=project, pixels=frame.astype(np.uint16), original_name=f"crowd_{seed}.png")
    for x, y in points:
        TargetFactory(image=image, x=x, y=y)
    return image


def two_blobs_frame() -> np.ndarray:
    """A 64x80 16-bit frame with two Gaussian targets on a noisy background."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:80]
    frame = 8000 + rng.normal(0, 40, (64, 80))
    for cy, cx in ((20, 20), (40, 60)):
        frame += 20000 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.8**2))
    return np.clip(frame, 0, 65535).astype(np.uint16)
