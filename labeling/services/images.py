"""Images: validated upload (one or a batch), split changes, deletion, and the review workflow."""

import hashlib
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from labeling import storage
from labeling.choices import ImageStatus, MaskState, Split
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Mask, Project, image_upload_path
from labeling.permissions import ANNOTATE, MANAGE, REVIEW, has_role, require_role
from labeling.services.audit import audit_log
from labeling.services.double import (
    claim_exclusion,
    double_after_submit,
    require_not_first_pass,
    require_second_pass_done,
)
from labeling.services.masks import require_acknowledged
from labeling.services.prequential import first_confirmed, frame_score_request
from labeling.services.projects import project_settings
from labeling.services.qa import submission_record, submissions_score
from labeling.services.review_policy import require_independent_reviewer
from labeling.services.sequences import next_frame_index, sequence_name_clean

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


def image_name_clean(file_name: str) -> str:
    """The client's name without directories or control characters (display only; never a path)."""
    name = _UNSAFE_NAME.sub("", (file_name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return (name or "unnamed")[:255]


def _split(split: str | None) -> str:
    if split in (None, ""):
        return Split.TRAIN
    if split not in Split.values:
        raise ApplicationError(f"Unknown split {split!r}; one of {', '.join(Split.values)}.", extra={"split": split})
    return split


def image_create(
    *,
    project: Project,
    file_name: str,
    data: bytes,
    actor: Any,
    split: str | None = None,
    sequence: tuple[str, int] | None = None,
) -> Image:
    """Validate `data` by its content and store it byte-for-byte; ApplicationError names the file and the reason.
    `sequence`: (name, frame index) when the frame belongs to one."""
    name = image_name_clean(file_name)
    split = _split(split)
    try:
        decoded = storage.decode_image(data)
    except storage.InvalidImage as exc:
        raise _refused(name, exc) from exc
    content_hash = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, content_hash=content_hash).values_list("pk", flat=True).first()
    if existing is not None:
        raise _duplicate(name, existing)
    image = Image(
        project=project,
        original_name=name,
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        dtype=decoded.dtype,
        bit_depth=decoded.bit_depth,
        channels=decoded.channels,
        file_size=len(data),
        content_hash=content_hash,
        split=split,
        uploaded_by=actor,
        sequence=sequence[0] if sequence else "",
        frame_index=sequence[1] if sequence else None,
    )
    stored, created = storage.save_bytes(image_upload_path(image, name), data)
    image.file.name = stored
    try:
        with transaction.atomic():
            image.save()
            audit_log(
                actor=actor,
                project=project,
                action="image.create",
                obj=image,
                data={"name": name, "hash": content_hash, "split": split, **_sequence_data(sequence)},
            )
    except IntegrityError as exc:  # a concurrent upload of the same content won the race
        if created:
            storage.delete_file(stored)
        winner = Image.objects.filter(project=project, content_hash=content_hash).values_list("pk", flat=True).first()
        raise _duplicate(name, winner) from exc
    except BaseException:
        if created:
            storage.delete_file(stored)
        raise
    return image


def _refused(name: str, exc: storage.InvalidImage) -> ApplicationError:
    return ApplicationError(
        f"{name}: {exc.message}", extra={"file": name, "reason": exc.message, **exc.extra}, status_code=exc.status_code
    )


def _duplicate(name: str, existing_id: int | None) -> ConflictError:
    return ConflictError(
        f"{name}: duplicate of image {existing_id} already in this project (same content)",
        extra={"file": name, "reason": "duplicate", "existing_image_id": existing_id},
    )


def _sequence_data(sequence: tuple[str, int] | None) -> dict[str, Any]:
    return {"sequence": sequence[0], "frame_index": sequence[1]} if sequence else {}


def _natural(name: str) -> list[Any]:
    """Name order with numbers compared as numbers (frame_2 before frame_10)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def images_upload(
    *,
    project: Project,
    files: list[tuple[str, bytes]],
    actor: Any,
    split: str | None = None,
    sequence: str | None = None,
) -> tuple[list[Image], list[dict[str, Any]]]:
    """Each file on its own: the good ones land even when others fail. Returns (created, errors).
    With `sequence`, the files (in name order, a multi-page TIFF's pages in page order) become that sequence's next
    frames; without it, a multi-page TIFF's pages become the sequence named after the file."""
    require_role(actor, project, MANAGE, "upload images")
    if sequence is not None:
        sequence = sequence_name_clean(sequence)
        files = sorted(files, key=lambda f: _natural(f[0]))
    created: list[Image] = []
    errors: list[dict[str, Any]] = []
    for file_name, data in files:
        try:
            frames = image_frames(file_name=file_name, data=data)
        except ApplicationError as exc:
            errors.append({"file": image_name_clean(file_name), "status": exc.status_code, "message": exc.message})
            continue
        # A named upload's files continue that sequence; a multi-page TIFF alone is the sequence named after it.
        name = sequence if sequence is not None else (_file_stem(file_name) if len(frames) > 1 else None)
        index = next_frame_index(project, name) if name is not None else None
        for frame_name, frame in frames:
            place = (name, index) if name is not None else None
            try:
                created.append(
                    image_create(
                        project=project, file_name=frame_name, data=frame, actor=actor, split=split, sequence=place
                    )
                )
            except ApplicationError as exc:
                errors.append({"file": image_name_clean(frame_name), "status": exc.status_code, "message": exc.message})
                continue
            index = index + 1 if index is not None else None
    return created, errors


def image_frames(*, file_name: str, data: bytes) -> list[tuple[str, bytes]]:
    """(name, bytes) of each frame in a file: itself, or each page of a multi-page TIFF as `<stem>_p0001.tif`, ...
    (1-based, zero-padded, so the name order is the page order and images are created in that order too)."""
    try:
        pages = storage.tiff_pages(data)
    except storage.InvalidImage as exc:
        raise _refused(image_name_clean(file_name), exc) from exc
    if len(pages) == 1:
        return [(file_name, pages[0])]
    stem = _file_stem(file_name)
    return [(f"{stem}_p{number:04d}.tif", page) for number, page in enumerate(pages, start=1)]


def _file_stem(file_name: str) -> str:
    """A file's cleaned name without its suffix: its pages' name stem, and their sequence's name."""
    return (image_name_clean(file_name).rsplit(".", 1)[0] or "unnamed")[:230]


def _locked(image: Image, version: int | None = None) -> Image:
    locked = Image.objects.select_for_update().get(pk=image.pk)
    if version is not None and locked.version != version:
        raise ConflictError(
            f"Image {image.pk} was changed by someone else; reload it.",
            extra={"current_version": locked.version, "image_id": image.pk},
        )
    return locked


def _bump(image: Image, *fields: str) -> None:
    image.version += 1
    image.save(update_fields=[*fields, "version", "updated_at"])


@transaction.atomic
def image_update(*, image: Image, actor: Any, version: int, split: str | None = None) -> Image:
    require_role(actor, image.project, MANAGE, "change an image's split")
    image = _locked(image, version)
    if split is not None:
        previous, image.split = image.split, _split(split)
        _bump(image, "split")
        audit_log(
            actor=actor, project=image.project, action="image.split", obj=image, data={"from": previous, "to": split}
        )
    return image


@transaction.atomic
def images_release(*, user: Any, actor: Any) -> int:
    """Give `user`'s unfinished images (new, in progress) back to the pool, so others can claim them (a person
    deactivated mid-work would hold them for ever); submitted and finished ones keep their annotator. How many."""
    released = 0
    unfinished = Image.objects.select_for_update().filter(
        assigned_to=user, status__in=[ImageStatus.NEW, ImageStatus.IN_PROGRESS]
    )
    for image in unfinished.order_by("id"):
        image.assigned_to = None
        _bump(image, "assigned_to")
        audit_log(actor=actor, project=image.project_id, action="image.release", obj=image, data={"from": user.pk})
        released += 1
    return released


@transaction.atomic
def image_delete(*, image: Image, actor: Any) -> None:
    """Delete the image with its targets and masks; the human-made masks' content stays in the audit log."""
    require_role(actor, image.project, MANAGE, "delete images")
    path = image.file.name
    human = Mask.objects.filter(image=image, state__in=[MaskState.EDITED, MaskState.CONFIRMED]).select_related("target")
    kept = [
        {
            "target_id": m.target_id,
            "x": m.target.x,
            "y": m.target.y,
            "rle": m.rle,
            "state": m.state,
            "version": m.version,
        }
        for m in human.order_by("target_id")
    ]
    audit_log(
        actor=actor,
        project=image.project,
        action="image.delete",
        obj=image,
        data={"name": image.original_name, "hash": image.content_hash, "status": image.status, "masks": kept},
    )
    image.delete()
    transaction.on_commit(lambda: storage.delete_file(path))


def claim_ordering(project: Project) -> tuple[Any, ...]:
    """The order "next image" hands frames out in: upload order, or (`claim.order` active) the least sure first."""
    if project_settings(project)["claim"]["order"] == "active":
        return (F("uncertainty").desc(nulls_last=True), "id")
    return ("id",)


@transaction.atomic
def image_claim(*, project: Project, actor: Any) -> Image:
    """The actor's own unfinished image, else the next unassigned one (row-locked, skipping locked rows)."""
    require_role(actor, project, ANNOTATE, "claim images")
    mine = (
        Image.objects.select_for_update(skip_locked=True)
        .filter(project=project, assigned_to=actor)
        .filter(status__in=[ImageStatus.NEW, ImageStatus.IN_PROGRESS, ImageStatus.REJECTED])
        .order_by("id")
        .first()
    )
    if mine is not None:
        return mine
    image = (
        Image.objects.select_for_update(skip_locked=True)
        .filter(project=project, assigned_to__isnull=True, status__in=[ImageStatus.NEW, ImageStatus.IN_PROGRESS])
        .exclude(claim_exclusion(project.pk, actor))  # a double-annotated frame's second pass is someone else's
        .order_by(*claim_ordering(project))
        .first()
    )
    if image is None:
        raise ApplicationError("No image is left to claim in this project.", status_code=404)
    image.assigned_to = actor
    _bump(image, "assigned_to")
    audit_log(actor=actor, project=project, action="image.claim", obj=image)
    return image


def _transition(
    image: Image,
    actor: Any,
    allowed: set[str],
    to: str,
    action: str,
    data: dict | None = None,
    fields: tuple[str, ...] = (),
) -> Image:
    if image.status not in allowed:
        raise ConflictError(
            f"Image {image.pk} is {image.status}; it cannot go to {to} from there.",
            extra={"status": image.status, "allowed_from": sorted(allowed)},
        )
    previous, image.status = image.status, to
    _bump(image, "status", "assigned_to", *fields)
    audit_log(
        actor=actor,
        project=image.project,
        action=f"image.{action}",
        obj=image,
        data={"from": previous, "to": to, **(data or {})},
    )
    return image


@transaction.atomic
def image_submit(*, image: Image, actor: Any, version: int | None = None) -> Image:
    require_role(actor, image.project, ANNOTATE, "submit images")
    image = _locked(image, version)
    require_not_first_pass(image, actor, "submit")
    if image.assigned_to_id not in (None, actor.pk) and not has_role(actor, image.project, REVIEW):
        raise ApplicationError(f"Image {image.pk} is assigned to someone else.", status_code=403)
    if image.assigned_to_id is None:
        image.assigned_to = actor
    image.submitted_by = actor
    allowed = {ImageStatus.NEW, ImageStatus.IN_PROGRESS, ImageStatus.REJECTED}
    image = _transition(image, actor, allowed, ImageStatus.SUBMITTED, "submit", fields=("submitted_by",))
    submission = submission_record(image=image, actor=actor)  # the annotator QA record: what they handed in
    return double_after_submit(image=image, submission=submission, actor=actor)  # a double-annotated frame's pass


@transaction.atomic
def image_confirm(
    *, image: Image, actor: Any, version: int | None = None, acknowledge: list[str] | None = None
) -> Image:
    """Confirm the image and every mask on it (a rejected mask must be replaced first). Refused (403) to the image's
    annotator under the project's separate-reviewer rule, and (409) while a mask to confirm carries a blocking
    warning (`point_outside`) that `acknowledge` does not name. The first confirmation of a frame also asks the
    learning loop to score it (the masks the team was shown, the shadow candidates)."""
    require_role(actor, image.project, REVIEW, "confirm images")
    image = _locked(image, version)
    require_independent_reviewer(image, actor, "confirm")
    require_second_pass_done(image)
    rejected = list(image.masks.filter(state=MaskState.REJECTED).values_list("target_id", flat=True))
    if rejected:
        raise ConflictError(
            f"Image {image.pk} has rejected masks (targets {rejected}); replace them before confirming.",
            extra={"rejected_targets": rejected},
        )
    masks = list(Mask.objects.select_for_update().filter(image=image).filter(~Q(state=MaskState.CONFIRMED)))
    require_acknowledged(masks, acknowledge, f"Image {image.pk} not confirmed")
    acknowledged = sorted({w for m in masks for w in m.warnings or []} & set(acknowledge or []))
    allowed = {ImageStatus.NEW, ImageStatus.IN_PROGRESS, ImageStatus.SUBMITTED, ImageStatus.REJECTED}
    data = {"acknowledged": acknowledged} if acknowledged else None
    image = _transition(image, actor, allowed, ImageStatus.CONFIRMED, "confirm", data)
    now = timezone.now()
    for mask in masks:
        before = {"state": mask.state, "version": mask.version}
        mask.state, mask.confirmed_by, mask.confirmed_at = MaskState.CONFIRMED, actor, now
        mask.version += 1
        mask.save(update_fields=["state", "confirmed_by", "confirmed_at", "version", "updated_at"])
        # one row per mask, like mask_confirm: a mask's history is found under the mask itself
        audit_log(
            actor=actor,
            project=image.project_id,
            action="mask.confirm",
            obj=mask,
            data={"via": "image.confirm", "from": before, "to": {"state": mask.state, "version": mask.version}},
        )
    submissions_score(image=image, reviewer=actor)
    if image.first_confirmed_at is None:
        first_confirmed(image)
        frame_score_request(image=image)
    return image


@transaction.atomic
def image_reject(*, image: Image, actor: Any, comment: str = "", version: int | None = None) -> Image:
    """Send the image back to its annotator. The comment, who wrote it and when are kept on the image, so the
    annotator reads them next to it and in their image list (and in the audit log)."""
    require_role(actor, image.project, REVIEW, "reject images")
    image = _locked(image, version)
    allowed = {ImageStatus.SUBMITTED, ImageStatus.CONFIRMED}
    image.rejection_comment, image.rejected_by, image.rejected_at = comment, actor, timezone.now()
    review = ("rejection_comment", "rejected_by", "rejected_at")
    return _transition(image, actor, allowed, ImageStatus.REJECTED, "reject", {"comment": comment}, fields=review)
