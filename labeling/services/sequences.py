"""Frame sequences: which frames form one, and carrying the previous frame's points to the next.

A sequence is a project's frames sharing a `sequence` name, ordered by `frame_index`: the pages of a multi-page
TIFF (automatically), the files of one upload sent with a `sequence` name (in name order), or the frames a COCO
file places in one (our export's `sequence` / `frame_index`, COCO-VID's `video_id` / `frame_id`). On a frame of a
sequence, `image_carry` moves each target of the previous frame onto its target's peak here (ml.tracking) and
offers it as a suggestion (source "carried"): one key accepts it (it becomes a target with the same track id and
the tightness that redraws the previous frame's mask here: the previous mask's hint to the generator, whatever
tool drew that mask; ml.tracking.fit_tightness), moves or deletes it, as any suggestion. Nothing is a label until
accepted. Targets get their track id when first carried; an export numbers the rest after them. The tightness
steers the cold start; while an EDGSP version serves (the net ignores per-target tightness) no fit is made and
the previous target's own tightness, if any, comes along.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max

from labeling import ml_adapter, storage
from labeling.choices import ImageStatus, MaskState, SuggestionState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Mask, Project, Suggestion, Target
from labeling.permissions import ANNOTATE, require_role
from labeling.services.audit import audit_log
from labeling.services.serving import generator_spec

CARRIED = "carried"
NEAR_PX = 3.0  # a proposed point (carried or detected) this close to a target already there is not offered
SEQUENCE_MAX_CHARS = 255


def sequence_name_clean(name: str) -> str:
    """A sequence name as given by a person or a script: trimmed, one line, at most 255 characters."""
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > SEQUENCE_MAX_CHARS:
        raise ApplicationError(f"sequence must be 1 to {SEQUENCE_MAX_CHARS} characters.", extra={"field": "sequence"})
    return cleaned


def next_frame_index(project: Project, sequence: str) -> int:
    last = Image.objects.filter(project=project, sequence=sequence).aggregate(m=Max("frame_index"))["m"]
    return (last or 0) + 1


def near_any(x: float, y: float, taken: list[tuple[float, float]]) -> bool:
    """Whether (x, y) lies within NEAR_PX of a point of `taken` (a target or a decided suggestion)."""
    return any((x - tx) ** 2 + (y - ty) ** 2 <= NEAR_PX**2 for tx, ty in taken)


def previous_frame(image: Image) -> Image | None:
    """The frame before this one in its sequence (the nearest lower index), or None."""
    if not image.sequence or image.frame_index is None:
        return None
    return (
        Image.objects.filter(project_id=image.project_id, sequence=image.sequence, frame_index__lt=image.frame_index)
        .order_by("-frame_index", "-pk")
        .first()
    )


def _next_track(project_id: int, sequence: str) -> int:
    last = Target.objects.filter(image__project_id=project_id, image__sequence=sequence).aggregate(m=Max("track_id"))
    return (last["m"] or 0) + 1


@transaction.atomic
def image_carry(*, image: Image, actor: Any) -> list[Suggestion]:
    """Offer the previous frame's targets on this frame, moved onto their peaks, as carried suggestions (replacing
    pending carried ones, so a rerun never duplicates). A point near a target already here is left out. Annotator+."""
    require_role(actor, image.project, ANNOTATE, "carry points to this frame")
    if not image.sequence or image.frame_index is None:
        raise ApplicationError("This image is not a frame of a sequence: there is no previous frame to carry from.")
    previous = previous_frame(image)
    # Lock order: the images by id, then their targets and suggestions (as target changes lock the image first).
    locked = {i.pk: i for i in Image.objects.select_for_update().filter(pk__in=[image.pk, getattr(previous, "pk", 0)])}
    here = locked[image.pk]
    if here.status == ImageStatus.CONFIRMED:
        raise ConflictError("This frame is confirmed: nothing is carried to it.", extra={"status": here.status})
    Suggestion.objects.filter(image=here, source=CARRIED, state=SuggestionState.PENDING).delete()
    if previous is None:
        return []
    sources = list(Target.objects.filter(image=previous).order_by("pk"))
    if not sources:
        return []
    pixels = storage.read_pixels(here)
    old = np.array([[t.x, t.y] for t in sources])
    carried = ml_adapter.carry_points(pixels, old)
    fitted = _mask_tightness(here, previous, sources, pixels, carried.points, carried.points - old)
    track = _next_track(here.project_id, here.sequence)
    taken = list(Target.objects.filter(image=here).values_list("x", "y"))
    new = []
    rows = zip(sources, carried.points, carried.scores, carried.sure, fitted, strict=True)
    for target, (x, y), score, sure, tightness in rows:
        if target.track_id is None:
            target.track_id, track = track, track + 1
            Target.objects.filter(pk=target.pk).update(track_id=target.track_id)
        if near_any(x, y, taken):
            continue
        params = {"track_id": target.track_id, "from_target": target.pk, "from_image": previous.pk, "sure": bool(sure)}
        if tightness is not None:  # the previous mask's hint: the same target is drawn alike
            params["tightness"], params["tightness_from"] = tightness, "previous_mask"
        elif target.tightness is not None:
            params["tightness"], params["tightness_from"] = target.tightness, "previous_target"
        new.append(Suggestion(image=here, x=float(x), y=float(y), score=float(score), source=CARRIED, params=params))
    Suggestion.objects.bulk_create(new)
    audit_log(
        actor=actor,
        project=here.project_id,
        action="image.carry",
        obj=here,
        data={"from_image": previous.pk, "carried": len(new), "weak": sum(not s.params["sure"] for s in new)},
    )
    return list(Suggestion.objects.filter(image=here, source=CARRIED, state=SuggestionState.PENDING).order_by("pk"))


def _mask_tightness(
    here: Image, previous: Image, sources: list[Target], pixels: np.ndarray, points: np.ndarray, moves: np.ndarray
) -> list[float | None]:
    """Per source target, the tightness that redraws its previous-frame mask on this frame while the cold start
    serves (None: no mask there, frames of different sizes, or an EDGSP version serving)."""
    spec = generator_spec(here.project)
    if spec.method != ml_adapter.COLDSTART or (previous.height, previous.width) != (here.height, here.width):
        return [None] * len(sources)  # an EDGSP version draws the masks and ignores per-target tightness
    masks = dict(
        Mask.objects.filter(target__in=sources).exclude(state=MaskState.REJECTED).values_list("target_id", "rle")
    )
    hints = [storage.mask_decode(masks[t.pk], here.height, here.width) if t.pk in masks else None for t in sources]
    if not any(h is not None for h in hints):
        return [None] * len(sources)
    return ml_adapter.previous_mask_tightness(pixels, points, hints, moves, spec)


def carried_fields(suggestion: Suggestion) -> dict[str, Any]:
    """What an accepted carried suggestion passes to its target: the track id, and the tightness that redraws the
    previous frame's mask here (else the previous target's own tightness, when it had one); {} for other
    suggestions."""
    if suggestion.source != CARRIED:
        return {}
    params = suggestion.params or {}
    out: dict[str, Any] = {}
    if params.get("track_id") is not None:
        out["track_id"] = int(params["track_id"])
    if params.get("tightness") is not None:
        out["tightness"] = float(params["tightness"])
    return out
