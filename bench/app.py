"""bench/'s one entry to the app's tables: seeding rows in bulk (faster than the services allow, and without the
jobs they would start) and reading back what a run left. Everything else in bench/ goes through the API (a client
or the live stack), the services or the selectors; an import-linter contract keeps labeling.models and
labeling.storage out of the other bench modules. Call after django.setup().
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling import storage
from labeling.choices import ImageStatus, JobKind, JobStatus, MaskSource, MaskState, ModelStatus, Split
from labeling.models import AuditLog, Image, Job, Mask, ModelVersion, Project, Target
from labeling.permissions import operator
from labeling.services.projects import membership_add, project_create

OPEN = [JobStatus.QUEUED, JobStatus.RUNNING]


# --- People and projects --------------------------------------------------------------------------
def bench_user(username: str = "bench") -> Any:
    return get_user_model().objects.get_or_create(username=username)[0]


def owned_project(name: str, owner: Any, *, reuse: bool = False) -> Project:
    """A project `owner` owns (made through the service); with `reuse`, the one of that name if it exists, so a
    rerun of a seeding bench tops it up instead of starting over."""
    if reuse:
        found = Project.objects.filter(name=name, memberships__user=owner).first()
        if found is not None:
            return found
    return project_create(name=name, actor=owner)


def member_add(project: Project, user: Any, role: str) -> None:
    """The bench seeds as the operator (it is the shell): the membership service, with no owner acting."""
    with operator():
        membership_add(project=project, username=user.username, role=role, actor=None)


def project_by_id(project_id: int) -> Project:
    return Project.objects.get(pk=project_id)


# --- Seeding in bulk ------------------------------------------------------------------------------
def image_rows_fill(project: Project, user: Any, target: int) -> None:
    """Image rows up to `target` (no files: the list and filter endpoints never open them), mixed statuses,
    splits and bit depths, bulk-inserted 5,000 at a time."""
    have = Image.objects.filter(project=project).count()
    statuses = [ImageStatus.NEW, ImageStatus.IN_PROGRESS, ImageStatus.SUBMITTED, ImageStatus.CONFIRMED]
    splits = [Split.TRAIN, Split.TRAIN, Split.TRAIN, Split.VAL, Split.TEST]
    batch = []
    for i in range(have, target):
        digest = f"{project.pk:08x}{i:056x}"
        batch.append(
            Image(
                project=project,
                file=f"projects/{project.pk}/images/{digest[:2]}/{digest}.png",
                original_name=f"frame_{i:06d}.png",
                format="PNG",
                width=512,
                height=512,
                dtype="uint16" if i % 3 == 0 else "uint8",
                bit_depth=16 if i % 3 == 0 else 8,
                file_size=200_000,
                content_hash=digest,
                split=splits[i % len(splits)],
                status=statuses[i % len(statuses)],
                uploaded_by=user,
            )
        )
        if len(batch) == 5000:
            Image.objects.bulk_create(batch)
            batch = []
    if batch:
        Image.objects.bulk_create(batch)


def frame_with_masks_add(
    project: Project, user: Any, *, index: int, png: bytes, shape: tuple[int, int], masks: list[dict[str, Any]]
) -> None:
    """One 16-bit frame with a target and a mask per entry of `masks` ({x, y, raster, state, warnings}), written
    in three statements (the gallery bench seeds 10,000 targets)."""
    digest = hashlib.sha256(png).hexdigest()
    image = Image(
        project=project,
        original_name=f"frame_{index:05d}.png",
        format="PNG",
        width=shape[1],
        height=shape[0],
        dtype="uint16",
        bit_depth=16,
        file_size=len(png),
        content_hash=digest,
        uploaded_by=user,
        assigned_to=user if index % 4 == 0 else None,
    )
    image.file.name, _ = storage.save_bytes(f"projects/{project.pk}/images/{digest[:2]}/{digest}.png", png)
    image.save()
    targets = Target.objects.bulk_create(
        [Target(image=image, x=float(m["x"]), y=float(m["y"]), created_by=user) for m in masks]
    )
    rows = []
    for target, m in zip(targets, masks, strict=True):
        rle, area, bbox = storage.mask_encode(m["raster"])
        rows.append(
            Mask(
                target=target,
                image=image,
                rle=rle,
                area=area,
                bbox=bbox,
                source=MaskSource.COLDSTART,
                state=m["state"],
                warnings=m["warnings"],
            )
        )
    Mask.objects.bulk_create(rows)


def points_add(image: Image, points: Iterable[tuple[float, float]]) -> None:
    """Targets without the mask generation the target service would start (pre-label makes them later)."""
    Target.objects.bulk_create([Target(image=image, x=float(x), y=float(y)) for x, y in points])


def checkpoint_serve(project: Project, checkpoint: str, arch: str = "edgsp") -> ModelVersion:
    """A promoted model version serving `checkpoint` (a bench times a given net, so it skips the learning loop)."""
    return ModelVersion.objects.create(
        project=project,
        number=1,
        arch=arch,
        checkpoint=checkpoint,
        status=ModelStatus.PROMOTED,
        promoted_at=timezone.now(),
    )


# --- Reading back ---------------------------------------------------------------------------------
def target_count(project: Project) -> int:
    return Target.objects.filter(image__project=project).count()


def target_ids(image_id: int) -> list[int]:
    return list(Target.objects.filter(image_id=image_id).order_by("pk").values_list("pk", flat=True))


def jobs_open(project_id: int, kinds: list[str] | None = None) -> bool:
    jobs = Job.objects.filter(project_id=project_id, status__in=OPEN)
    return (jobs.filter(kind__in=kinds) if kinds else jobs).exists()


def loop_busy(project_id: int) -> bool:
    """The loop's quick jobs (scoring, calibration) are still queued or running."""
    return jobs_open(project_id, [JobKind.SCORE, JobKind.CALIBRATE])


def training_active(project_id: int) -> bool:
    return jobs_open(project_id, [JobKind.TRAIN])


def jobs_drain(project: Project, timeout_s: float = 60) -> dict[str, int]:
    """Wait for every job of the project to finish; count the ones that failed or never finished."""
    deadline = time.monotonic() + timeout_s
    while jobs_open(project.pk) and time.monotonic() < deadline:
        time.sleep(0.5)
    jobs = Job.objects.filter(project=project)
    return {
        "jobs": jobs.count(),
        "failed": jobs.filter(status=JobStatus.FAILED).count(),
        "unfinished": jobs.filter(status__in=OPEN).count(),
    }


def loop_events(project_id: int) -> list[dict[str, Any]]:
    """What the learning loop decided (not the per-frame scoring), oldest first."""
    rows = (
        AuditLog.objects.filter(project_id=project_id, action__startswith="loop.")
        .exclude(action="loop.score")
        .order_by("id")
    )
    return [
        {
            "action": log.action,
            "object": log.object_id if log.object_type == "modelversion" else None,
            "at": log.created_at,
            "data": log.data,
        }
        for log in rows
    ]


def model_versions(project_id: int) -> dict[int, dict[str, Any]]:
    return {
        v.pk: {
            "number": v.number,
            "kind": v.kind,
            "arch": v.arch,
            "params": v.params,
            "status": v.status,
            "reason": (v.gate or {}).get("reason", ""),
        }
        for v in ModelVersion.objects.filter(project_id=project_id)
    }


def confirmation_times(project_id: int) -> list[datetime]:
    """When each frame was first confirmed, in order (to say at which frame an event happened)."""
    return sorted(
        Image.objects.filter(project_id=project_id, first_confirmed_at__isnull=False).values_list(
            "first_confirmed_at", flat=True
        )
    )


def ledger_verify(project: Project, ledger: Any) -> dict[str, Any]:
    """Compare the database with what the clients were told was saved (2xx answers): `ledger` has `targets`
    {pk: (image_id, x, y)}, `masks` {target_id: rle counts}, `submitted` [image ids], `confirmed` {image id:
    {target_id: counts}}."""
    lost: list[str] = []
    rows = {t.pk: t for t in Target.objects.filter(image__project=project)}
    for pk, (image_id, x, y) in ledger.targets.items():
        row = rows.get(pk)
        if row is None or row.image_id != image_id or abs(row.x - x) > 1e-9 or abs(row.y - y) > 1e-9:
            lost.append(f"target {pk}: client has ({x}, {y}) on image {image_id}, database {row and (row.x, row.y)}")
    unknown = sorted(set(rows) - set(ledger.targets))  # saved but never acknowledged: duplicates or phantoms
    masks = {m.target_id: m for m in Mask.objects.filter(image__project=project).select_related("image")}

    def same(mask: Mask, counts: str) -> bool:
        h, w = mask.image.height, mask.image.width
        return bool(np.array_equal(storage.mask_decode(mask.rle, h, w), storage.mask_decode(counts, h, w)))

    for pk, counts in ledger.masks.items():
        mask = masks.get(pk)
        ok_state = mask is not None and mask.source == MaskSource.HUMAN
        ok_state = ok_state and mask.state in (MaskState.EDITED, MaskState.CONFIRMED)
        if not ok_state or not same(mask, counts):
            lost.append(f"hand-edited mask of target {pk}: {mask and (mask.source, mask.state)}")
    status = dict(Image.objects.filter(project=project).values_list("pk", "status"))
    for pk in ledger.submitted:
        if status.get(pk) not in (ImageStatus.SUBMITTED, ImageStatus.CONFIRMED):
            lost.append(f"submitted image {pk} is {status.get(pk)}")
    for pk, seen in ledger.confirmed.items():
        if status.get(pk) != ImageStatus.CONFIRMED:
            lost.append(f"confirmed image {pk} is {status.get(pk)}")
        for target_id, counts in seen.items():
            mask = masks.get(target_id)
            if mask is None or mask.state != MaskState.CONFIRMED or not same(mask, counts):
                lost.append(f"confirmed mask of target {target_id}: {mask and mask.state}")
    confirmed_images = [pk for pk, s in status.items() if s == ImageStatus.CONFIRMED]
    unconfirmed = Mask.objects.filter(image_id__in=confirmed_images).exclude(state=MaskState.CONFIRMED).count()
    return {
        "checked": {
            "targets": len(ledger.targets),
            "hand_edited_masks": len(ledger.masks),
            "submitted_images": len(ledger.submitted),
            "confirmed_images": len(ledger.confirmed),
            "confirmed_masks": sum(len(v) for v in ledger.confirmed.values()),
        },
        "lost": len(lost),
        "lost_examples": lost[:10],
        "unacknowledged_targets": len(unknown),
        "unconfirmed_masks_on_confirmed_images": unconfirmed,
    }
