"""Targets: add, move, delete and replace-all, bounds-checked and version-checked (stale write -> 409)."""

import math
from typing import Any

from django.db import transaction

from labeling import storage
from labeling.choices import ImageStatus, MaskState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Mask, Target
from labeling.permissions import ANNOTATE, REVIEW, has_role, require_role
from labeling.services.audit import audit_log
from labeling.services.double import require_not_first_pass
from labeling.services.generation import image_generate_request
from labeling.services.mask_checks import POINT_OUTSIDE, point_inside

POINT_MOVED = "point_moved"
UNSET: Any = object()  # "leave as is", as opposed to None ("clear")


def _coordinate(value: Any, axis: str, size: int, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApplicationError(f"{where}: {axis} must be a finite number, got {value!r}.", extra={"point": where})
    # Pixel centres are at integers, so the image covers [-0.5, size - 0.5) on each axis.
    if not -0.5 <= value < size - 0.5:
        raise ApplicationError(
            f"{where}: {axis}={value} lies outside the image (allowed: -0.5 <= {axis} < {size - 0.5}).",
            extra={"point": where, axis: value},
        )
    return float(value)


def _tightness(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ApplicationError(f"{where}: tightness must lie in (0, 1), got {value!r}.", extra={"point": where})
    return float(value)


def _point(image: Image, x: Any, y: Any, where: str) -> tuple[float, float]:
    return _coordinate(x, "x", image.width, where), _coordinate(y, "y", image.height, where)


def _lock(target: Target, version: int | None) -> tuple[Image, Target]:
    # Always image first, then target: the same order as targets_replace, so no deadlocks.
    image = Image.objects.select_for_update().get(pk=target.image_id)
    locked = Target.objects.select_for_update().get(pk=target.pk)
    if version is not None and locked.version != version:
        raise ConflictError(
            f"Target {target.pk} was changed by someone else; reload it.",
            extra={"current_version": locked.version, "target_id": target.pk},
        )
    return image, locked


def _require_review_if_confirmed(target: Target, actor: Any, image: Image) -> Mask | None:
    mask = Mask.objects.select_for_update().filter(target=target).first()
    if mask is not None and mask.state == MaskState.CONFIRMED and not has_role(actor, image.project, REVIEW):
        raise ApplicationError(
            f"Target {target.pk} has a confirmed mask; only a reviewer can delete it.", status_code=403
        )
    return mask


def _mask_invalidate(target: Target, actor: Any, image: Image) -> dict[str, Any] | None:
    """A moved point: drop a purely predicted mask; keep a human-touched one, flagged "point_moved" (and
    "point_outside" while the new point's pixel is not in it). Returns what happened to a kept mask, for the move's
    audit row."""
    mask = Mask.objects.select_for_update().filter(target=target).first()
    if mask is None:
        return None
    if mask.state == MaskState.PREDICTED:
        audit_log(actor=actor, project=image.project_id, action="mask.drop", obj=mask, data={"reason": "moved"})
        mask.delete()
        return None
    kept = {"id": mask.pk, "state": mask.state, "version": {"from": mask.version, "to": mask.version}}
    inside = point_inside(storage.mask_decode(mask.rle, image.height, image.width), target.x, target.y)
    warnings = [w for w in mask.warnings if w != POINT_OUTSIDE]
    warnings += ([] if POINT_MOVED in warnings else [POINT_MOVED]) + ([] if inside else [POINT_OUTSIDE])
    if warnings != mask.warnings:
        mask.warnings = warnings
        mask.version += 1
        mask.save(update_fields=["warnings", "version", "updated_at"])
        kept["version"]["to"] = mask.version
    return kept


def _deleted_data(target: Target, mask: Mask | None) -> dict[str, Any]:
    data: dict[str, Any] = {"x": target.x, "y": target.y}
    if mask is not None and mask.state != MaskState.PREDICTED:
        data["mask"] = {"rle": mask.rle, "state": mask.state, "source": mask.source, "version": mask.version}
    return data


@transaction.atomic
def target_add(*, image: Image, x: float, y: float, actor: Any, tightness: float | None = None) -> Target:
    require_role(actor, image.project, ANNOTATE, "add targets")
    image = Image.objects.select_for_update().get(pk=image.pk)
    px, py = _point(image, x, y, "point")
    target = Target.objects.create(
        image=image, x=px, y=py, tightness=_tightness(tightness, "point"), created_by=actor, updated_by=actor
    )
    audit_log(actor=actor, project=image.project_id, action="target.add", obj=target, data={"x": px, "y": py})
    _targets_changed(image, actor)
    return target


@transaction.atomic
def target_move(
    *, target: Target, actor: Any, version: int, x: float | None = None, y: float | None = None, tightness: Any = UNSET
) -> Target:
    """Move the point and/or change its tightness; 409 (and nothing changed) when `version` is stale."""
    require_role(actor, target.image.project, ANNOTATE, "move targets")
    image, target = _lock(target, version)
    before = {"x": target.x, "y": target.y, "tightness": target.tightness}
    px, py = _point(image, target.x if x is None else x, target.y if y is None else y, f"target {target.pk}")
    target.x, target.y = px, py
    if tightness is not UNSET:
        target.tightness = _tightness(tightness, f"target {target.pk}")
    after = {"x": target.x, "y": target.y, "tightness": target.tightness}
    if after == before:
        return target
    target.updated_by = actor
    target.version += 1
    target.save()
    data: dict[str, Any] = {"from": before, "to": after}
    kept = _mask_invalidate(target, actor, image)
    if kept is not None:
        data["mask"] = kept
    audit_log(actor=actor, project=image.project_id, action="target.move", obj=target, data=data)
    _targets_changed(image, actor)
    return target


@transaction.atomic
def target_delete(*, target: Target, actor: Any, version: int | None = None) -> None:
    """Delete the point and its mask (a human-touched mask's content stays in the audit log)."""
    require_role(actor, target.image.project, ANNOTATE, "delete targets")
    image, target = _lock(target, version)
    mask = _require_review_if_confirmed(target, actor, image)
    audit_log(
        actor=actor, project=image.project_id, action="target.delete", obj=target, data=_deleted_data(target, mask)
    )
    target.delete()
    _targets_changed(image, actor)


@transaction.atomic
def targets_replace(*, image: Image, points: list[dict[str, Any]], version: int, actor: Any) -> list[Target]:
    """Make the image's targets exactly `points`: items with an `id` update that target, others are added,
    targets left out are deleted. All points are validated before anything changes."""
    require_role(actor, image.project, ANNOTATE, "replace targets")
    image = Image.objects.select_for_update().get(pk=image.pk)
    if image.version != version:
        raise ConflictError(
            f"Image {image.pk} was changed by someone else; reload it.",
            extra={"current_version": image.version, "image_id": image.pk},
        )
    existing = {t.pk: t for t in Target.objects.select_for_update().filter(image=image)}
    parsed: list[tuple[int | None, float, float, Any]] = []
    for index, point in enumerate(points):
        where = f"point {index}"
        if not isinstance(point, dict):
            raise ApplicationError(f"{where}: expected an object with x and y.", extra={"point": where})
        target_id = point.get("id")
        if target_id is not None and target_id not in existing:
            raise ApplicationError(f"{where}: target {target_id} is not on this image.", extra={"point": where})
        px, py = _point(image, point.get("x"), point.get("y"), where)
        parsed.append((target_id, px, py, _tightness(point["tightness"], where) if "tightness" in point else UNSET))
    kept_ids = {target_id for target_id, *_ in parsed if target_id is not None}
    if len(kept_ids) != sum(1 for target_id, *_ in parsed if target_id is not None):
        raise ApplicationError("A target id appears more than once.")
    for target in existing.values():
        if target.pk not in kept_ids:
            mask = _require_review_if_confirmed(target, actor, image)
            audit_log(
                actor=actor,
                project=image.project_id,
                action="target.delete",
                obj=target,
                data=_deleted_data(target, mask),
            )
            target.delete()
    result = []
    for target_id, px, py, tightness in parsed:
        if target_id is None:
            target = Target.objects.create(
                image=image, x=px, y=py, tightness=None if tightness is UNSET else tightness, created_by=actor
            )
            audit_log(actor=actor, project=image.project_id, action="target.add", obj=target, data={"x": px, "y": py})
        else:
            target = existing[target_id]
            new_tightness = target.tightness if tightness is UNSET else tightness
            if (target.x, target.y, target.tightness) != (px, py, new_tightness):
                before = {"x": target.x, "y": target.y, "tightness": target.tightness}
                target.x, target.y, target.tightness, target.updated_by = px, py, new_tightness, actor
                target.version += 1
                target.save()
                data: dict[str, Any] = {"from": before, "to": {"x": px, "y": py, "tightness": new_tightness}}
                kept = _mask_invalidate(target, actor, image)
                if kept is not None:
                    data["mask"] = kept
                audit_log(actor=actor, project=image.project_id, action="target.move", obj=target, data=data)
        result.append(target)
    _targets_changed(image, actor)
    return result


def _targets_changed(image: Image, actor: Any) -> None:
    """Every target change ends here (inside its transaction, image row locked): the image's version moves on, a
    new image becomes in progress, and its masks are regenerated on the `interactive` queue after commit. Refused
    (the change rolls back) to the first annotator of a frame waiting for its blind second pass."""
    require_not_first_pass(image, actor, "change its targets")
    fields = ["version", "updated_at"]
    if image.status == ImageStatus.NEW and image.targets.exists():
        image.status = ImageStatus.IN_PROGRESS
        fields.append("status")
    image.version += 1
    image.save(update_fields=fields)
    if "status" in fields:  # every status change of an image is in the audit log
        audit_log(
            actor=actor,
            project=image.project_id,
            action="image.status",
            obj=image,
            data={"from": ImageStatus.NEW, "to": image.status, "reason": "targets added"},
        )
    image_generate_request(image=image, actor=actor)
