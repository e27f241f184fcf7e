"""Masks: human replacement (version-checked, revisions kept), review, and predictions stored by generators."""

from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from labeling import storage
from labeling.choices import MaskSource, MaskState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Mask, MaskRevision, ModelVersion, Target
from labeling.permissions import ANNOTATE, REVIEW, require_role
from labeling.services.audit import audit_log
from labeling.services.double import require_not_first_pass
from labeling.services.mask_checks import BLOCKING_WARNINGS, DEFAULT_LARGE_AREA, edited_mask_warnings
from labeling.services.projects import project_settings
from labeling.services.review_policy import require_independent_reviewer

HUMAN_TOUCHED = {MaskState.EDITED, MaskState.CONFIRMED}


def _check_raster(raster: np.ndarray, image: Image) -> np.ndarray:
    if not isinstance(raster, np.ndarray) or raster.shape != (image.height, image.width):
        shape = getattr(raster, "shape", None)
        raise ApplicationError(
            f"The mask is {shape} but image {image.pk} is (height, width) = ({image.height}, {image.width}).",
            extra={"expected": [image.height, image.width], "got": list(shape) if shape else None},
        )
    return raster.astype(bool, copy=False)


def _revision(mask: Mask, actor: Any) -> MaskRevision:
    return MaskRevision.objects.create(
        mask=mask,
        version=mask.version,
        rle=mask.rle,
        area=mask.area,
        source=mask.source,
        state=mask.state,
        provenance=mask.provenance,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _lock(target: Target, version: int | None) -> Mask | None:
    mask = Mask.objects.select_for_update().filter(target_id=target.pk).first()
    current = mask.version if mask is not None else 0
    if version is not None and version != current:
        raise ConflictError(
            f"The mask of target {target.pk} was changed by someone else; reload it.",
            extra={"current_version": current, "target_id": target.pk},
        )
    return mask


@transaction.atomic
def mask_replace(*, target: Target, raster: np.ndarray, version: int | None, actor: Any) -> Mask:
    """A human edit: the previous content becomes a MaskRevision. `version` is the mask's (0 when it has none);
    a stale one -> 409 and nothing changes. A confirmed mask needs a reviewer."""
    image = target.image
    require_role(actor, image.project, ANNOTATE, "edit masks")
    require_not_first_pass(image, actor, "edit its masks")
    raster = _check_raster(raster, image)
    mask = _lock(target, version)
    if mask is not None and mask.state == MaskState.CONFIRMED:
        require_role(actor, image.project, REVIEW, "edit a confirmed mask")
    rle, area, bbox = storage.mask_encode(raster)
    blob_area = _blob_area(mask)
    before: dict[str, Any] = {"state": None, "version": 0, "revision": None}
    if mask is None:
        mask = Mask(target=target, image=image, version=1)
    else:
        before = {"state": mask.state, "version": mask.version, "revision": _revision(mask, actor).pk}
        mask.version += 1
    previous_provenance = mask.provenance or {}
    mask.rle, mask.area, mask.bbox = rle, area, bbox
    mask.source, mask.state, mask.edited_by = MaskSource.HUMAN, MaskState.EDITED, actor
    mask.confirmed_by, mask.confirmed_at = None, None
    large = int(project_settings(image.project)["generator"].get("large_area", DEFAULT_LARGE_AREA))
    mask.warnings = edited_mask_warnings(raster, x=target.x, y=target.y, blob_area=blob_area, large_area=large)
    mask.provenance = {
        **{k: v for k, v in previous_provenance.items() if k in ("generator", "clicks", "model_version")},
        "edited_by": actor.pk,
        "edited_at": timezone.now().isoformat(),
    }
    if blob_area is not None:
        mask.provenance["blob_area"] = blob_area
    mask.save()
    # The previous content is in the MaskRevision named here; the log says which state and version it replaced.
    audit_log(
        actor=actor,
        project=image.project_id,
        action="mask.replace",
        obj=mask,
        data={"area": area, "from": before, "to": {"state": mask.state, "version": mask.version}},
    )
    return mask


def _blob_area(mask: Mask | None) -> int | None:
    """The area of the target's blob as the generator (or an import) made it, before any human edit: an edit far
    larger than it was probably painted over a neighbour."""
    if mask is None:
        return None
    if mask.source != MaskSource.HUMAN:
        return mask.area
    return (mask.provenance or {}).get("blob_area")


def warnings_unacknowledged(masks: list[Mask], acknowledge: list[str] | None) -> dict[str, list[int]]:
    """{blocking warning: [target ids]} for the masks that carry one the reviewer has not acknowledged."""
    pending: dict[str, list[int]] = {}
    for mask in masks:
        for warning in BLOCKING_WARNINGS:
            if warning in (mask.warnings or []) and warning not in (acknowledge or []):
                pending.setdefault(warning, []).append(mask.target_id)
    return pending


def require_acknowledged(masks: list[Mask], acknowledge: list[str] | None, what: str) -> None:
    """409 naming the targets when a mask about to be confirmed has a blocking warning nobody acknowledged."""
    pending = warnings_unacknowledged(masks, acknowledge)
    if pending.get("point_outside"):
        targets = pending["point_outside"]
        raise ConflictError(
            f"{what}: the mask of target{'s' if len(targets) > 1 else ''} {', '.join(map(str, targets))} does not "
            "contain its own point (point_outside), so it may belong to another target. Look at it, then confirm "
            "again acknowledging point_outside.",
            extra={"needs_acknowledgement": sorted(pending), "targets": pending},
        )


def _review(
    mask: Mask, actor: Any, version: int | None, state: str, action: str, comment: str = "", acknowledge: Any = None
) -> Mask:
    require_role(actor, mask.image.project, REVIEW, f"{action} masks")
    locked = _lock(mask.target, version)
    if locked is None:  # deleted meanwhile
        raise ApplicationError("The mask no longer exists.", status_code=404)
    data: dict[str, Any] = {"comment": comment}
    fields = ["state", "confirmed_by", "confirmed_at", "version", "updated_at"]
    if state == MaskState.CONFIRMED:
        require_independent_reviewer(mask.image, actor, "confirm")
        require_acknowledged([locked], acknowledge, f"Mask of target {locked.target_id} not confirmed")
        acknowledged = sorted(set(acknowledge or []) & set(locked.warnings or []))
        if acknowledged:
            data["acknowledged"] = acknowledged
    else:
        # The annotator reads why next to the mask (the labeler's target panel), not only the managers in the audit.
        rejection = {"comment": comment, "by": actor.get_username(), "at": timezone.now().isoformat()}
        locked.provenance = {**(locked.provenance or {}), "rejection": rejection}
        fields.append("provenance")
    before = {"state": locked.state, "version": locked.version}
    locked.state = state
    locked.confirmed_by, locked.confirmed_at = (actor, timezone.now()) if state == MaskState.CONFIRMED else (None, None)
    locked.version += 1
    locked.save(update_fields=fields)
    audit_log(
        actor=actor,
        project=mask.image.project_id,
        action=f"mask.{action}",
        obj=locked,
        data={**data, "from": before, "to": {"state": state, "version": locked.version}},
    )
    return locked


@transaction.atomic
def mask_confirm(*, mask: Mask, actor: Any, version: int | None = None, acknowledge: list[str] | None = None) -> Mask:
    """Confirm one mask: refused (403) to its image's annotator under the separate-reviewer rule, and (409) while it
    carries a blocking warning (`point_outside`) that `acknowledge` does not name."""
    return _review(mask, actor, version, MaskState.CONFIRMED, "confirm", acknowledge=acknowledge)


@transaction.atomic
def mask_reject(*, mask: Mask, actor: Any, version: int | None = None, comment: str = "") -> Mask:
    """Reject one mask; the comment is kept on the mask (provenance.rejection) for its annotator to read."""
    return _review(mask, actor, version, MaskState.REJECTED, "reject", comment)


@transaction.atomic
def mask_store_prediction(
    *,
    target: Target,
    raster: np.ndarray,
    source: str,
    model_version: ModelVersion | None = None,
    provenance: dict[str, Any],
    warnings: list[str],
) -> Mask | None:
    """Write a generator's mask for `target`; returns None (and writes nothing) when a human already edited or
    confirmed it. A previous predicted/rejected mask is kept as a MaskRevision."""
    image = target.image
    raster = _check_raster(raster, image)
    if source not in MaskSource.values or source == MaskSource.HUMAN:
        raise ValueError(f"a prediction's source must be a generator source, got {source!r}")
    if not Target.objects.select_for_update().filter(pk=target.pk).exists():
        return None  # the target was deleted while the generator ran
    mask = Mask.objects.select_for_update().filter(target_id=target.pk).first()
    if mask is not None and mask.state in HUMAN_TOUCHED:
        return None
    rle, area, bbox = storage.mask_encode(raster)
    if mask is None:
        mask = Mask(target=target, image=image, version=1)
    else:
        _revision(mask, None)
        mask.version += 1
    mask.rle, mask.area, mask.bbox = rle, area, bbox
    mask.source, mask.state, mask.model_version = source, MaskState.PREDICTED, model_version
    mask.provenance, mask.warnings = provenance, list(warnings)
    mask.edited_by, mask.confirmed_by, mask.confirmed_at = None, None, None
    mask.save()
    audit_log(
        actor=None,
        project=image.project_id,
        action="mask.predict",
        obj=mask,
        data={"source": source, "model_version": getattr(model_version, "pk", None), "area": area},
    )
    return mask
