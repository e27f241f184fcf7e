"""Learning-loop fixtures: projects of confirmed synthetic IR frames (blobs with disk masks) and a tiny recipe."""

from __future__ import annotations

import numpy as np

from labeling.choices import ImageStatus, MaskSource, MaskState, Role
from labeling.models import Image, Project
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory

# A few seconds of a small net on 48-px crops: enough to exercise the whole loop, fast on 2 cores.
TINY_RETRAIN = {
    "time_budget_s": 2,
    "min_interval_minutes": 0,
    "prelabel_on_promote": False,
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
    image = ImageFactory(project=project, pixels=pixels, status=status, original_name=f"blob_{seed}.png")
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
