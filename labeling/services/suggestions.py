"""Suggestions: candidate targets a detector proposes on frames nobody has clicked; a person accepts or rejects each.

Pre-label regenerates masks for the points people placed; a frame without points gets nothing from it. Here a
detector (ml_adapter.propose_targets) proposes candidates there, as a batch Job over the project (manager+) or
for one frame (annotator+). A suggestion is not a Target: exports, metrics, training and the learning loop read
Targets only, so a suggestion counts nowhere until accepted; accepting makes it a Target through target_add (its
mask is generated as for a click). A rejected suggestion stays, so a new run does not propose it again.
Lock order: the image row, then its suggestions (as target changes lock the image first).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labeling import ml_adapter, storage
from labeling.choices import ImageStatus, JobKind, SuggestionState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Job, Project, Suggestion, Target
from labeling.permissions import ANNOTATE, MANAGE, require_role
from labeling.services.audit import audit_log
from labeling.services.chunked_jobs import chunk_run, chunked_job_start, selection_ids
from labeling.services.double import require_not_first_pass
from labeling.services.jobs import job_finish
from labeling.services.sequences import carried_fields, near_any
from labeling.services.targets import target_add, targets_replace

CHUNK_SIZE = 32  # frames per task: the detector takes ~60 ms a 256 x 256 frame
LOST = "the worker was lost repeatedly while proposing targets on this chunk"


def frames_without_points(project: Project) -> Any:
    """The project's unconfirmed images with no target: where pre-label has nothing to regenerate."""
    has_target = Exists(Target.objects.filter(image=OuterRef("pk")))
    return Image.objects.filter(project=project).exclude(status=ImageStatus.CONFIRMED).filter(~has_target)


@transaction.atomic
def suggestions_detect_request(
    *, project: Project, actor: Any, image_ids: list[int] | None = None, image: Image | None = None
) -> Job:
    """A detection Job: over one `image` (annotator+), or the project's frames without points / `image_ids`
    (manager+, like pre-label). Its chunks go to the `batch` queue on commit."""
    if image is not None:
        require_role(actor, project, ANNOTATE, "ask for suggested targets")
        if image.status == ImageStatus.CONFIRMED:
            raise ApplicationError(
                "This image is confirmed: nothing is proposed on it.", extra={"status": image.status}
            )
        ids = [image.pk]
    else:
        require_role(actor, project, MANAGE, "propose targets over the project")
        open_frames = Image.objects.filter(project=project).exclude(status=ImageStatus.CONFIRMED)
        ids = selection_ids(project, image_ids, frames_without_points(project), among=open_frames)
    empty = ("no unconfirmed frame without points to propose targets on", {"suggested": 0})
    return chunked_job_start(
        project=project, kind=JobKind.DETECT, actor=actor, ids=ids, chunk_size=CHUNK_SIZE, empty=empty, image=image
    )


def image_suggest(*, image: Image, job: Job | None = None) -> int:
    """Run the proposer on one frame and replace its pending suggestions; returns how many were stored.
    Candidates near a target or a rejected suggestion are left out. A confirmed frame gets none."""
    if image.status == ImageStatus.CONFIRMED:
        return 0
    found = ml_adapter.propose_targets(storage.read_pixels(image))  # outside any transaction: it takes a while
    return _store(image, found, job)


@transaction.atomic
def _store(image: Image, found: ml_adapter.Candidates, job: Job | None) -> int:
    image = Image.objects.select_for_update().get(pk=image.pk)
    Suggestion.objects.filter(image=image, state=SuggestionState.PENDING, source=found.source).delete()
    taken = list(Target.objects.filter(image=image).values_list("x", "y"))
    # Rejected ones are not proposed again; another proposer's pending ones (points carried from the previous
    # frame of a sequence) are not offered twice.
    taken += list(Suggestion.objects.filter(image=image).exclude(state=SuggestionState.ACCEPTED).values_list("x", "y"))
    new = [
        Suggestion(
            image=image, x=float(x), y=float(y), score=float(score), source=found.source, params=found.params, job=job
        )
        for (x, y), score in zip(found.points, found.scores, strict=True)
        if not near_any(float(x), float(y), taken)
    ]
    Suggestion.objects.bulk_create(new)
    return len(new)


def _require_open(image: Image) -> None:
    if image.status == ImageStatus.CONFIRMED:
        raise ConflictError(
            "This image is confirmed: its suggestions wait until a reviewer reopens it.", extra={"status": image.status}
        )


def _locked_pending(suggestion: Suggestion, actor: Any, action: str) -> Suggestion:
    """The suggestion locked (its image first), checked to be still pending and the actor allowed to label."""
    image = Image.objects.select_for_update().select_related("project").get(pk=suggestion.image_id)
    require_role(actor, image.project, ANNOTATE, action)
    _require_open(image)
    require_not_first_pass(image, actor, "decide its suggestions")
    locked = Suggestion.objects.select_for_update().filter(pk=suggestion.pk).first()
    if locked is None:
        raise ConflictError("This suggestion is gone: the detector ran again on this image; reload it.")
    if locked.state != SuggestionState.PENDING:
        raise ConflictError(f"This suggestion was already {locked.state}.", extra={"state": locked.state})
    locked.image = image
    return locked


def _decide(suggestion: Suggestion, actor: Any, state: str, target: Target | None) -> None:
    suggestion.state, suggestion.target = state, target
    suggestion.decided_by, suggestion.decided_at = actor, timezone.now()
    suggestion.save(update_fields=["state", "target", "decided_by", "decided_at"])
    data = {"x": suggestion.x, "y": suggestion.y, "score": suggestion.score, "source": suggestion.source}
    if target is not None:
        data["target_id"] = target.pk
    action = "suggestion.accept" if state == SuggestionState.ACCEPTED else "suggestion.reject"
    audit_log(actor=actor, project=suggestion.image.project_id, action=action, obj=suggestion, data=data)


@transaction.atomic
def suggestion_accept(*, suggestion: Suggestion, actor: Any) -> Target:
    """The suggestion becomes a Target (a click at its place: the mask is generated as usual)."""
    locked = _locked_pending(suggestion, actor, "accept suggested targets")
    target = target_add(image=locked.image, x=locked.x, y=locked.y, actor=actor)
    _keep_track(locked, target)
    _decide(locked, actor, SuggestionState.ACCEPTED, target)
    return target


def _keep_track(suggestion: Suggestion, target: Target) -> None:
    """A point carried from the previous frame of a sequence passes its track id (and tightness) on to the target
    it becomes, before its mask is generated (the generation job runs after this transaction commits)."""
    fields = carried_fields(suggestion)
    if fields:
        for key, value in fields.items():
            setattr(target, key, value)
        Target.objects.filter(pk=target.pk).update(**fields)


@transaction.atomic
def suggestion_reject(*, suggestion: Suggestion, actor: Any) -> Suggestion:
    """Not a target: kept as rejected, so that the detector does not propose it again."""
    locked = _locked_pending(suggestion, actor, "reject suggested targets")
    _decide(locked, actor, SuggestionState.REJECTED, None)
    return locked


@transaction.atomic
def suggestions_accept_all(*, image: Image, actor: Any) -> list[Target]:
    """Every pending suggestion of the image becomes a Target in one change (one mask generation)."""
    locked_image = Image.objects.select_for_update().select_related("project").get(pk=image.pk)
    require_role(actor, locked_image.project, ANNOTATE, "accept suggested targets")
    _require_open(locked_image)
    pending = list(Suggestion.objects.select_for_update().filter(image=locked_image, state=SuggestionState.PENDING))
    if not pending:
        return []
    kept = [{"id": t.pk, "x": t.x, "y": t.y} for t in Target.objects.filter(image=locked_image).order_by("pk")]
    points = kept + [{"x": s.x, "y": s.y} for s in pending]
    result = targets_replace(image=locked_image, points=points, version=locked_image.version, actor=actor)
    created = result[len(kept) :]
    for suggestion, target in zip(pending, created, strict=True):
        suggestion.image = locked_image
        _keep_track(suggestion, target)
        _decide(suggestion, actor, SuggestionState.ACCEPTED, target)
    return created


# --- The batch job (a `batch` worker runs one chunk per task) -----------------------------------------------


def suggestions_detect(*, job_id: int, chunk: int = 0) -> None:
    """Propose targets on one chunk of the job's frames; a redelivered chunk resumes after its last finished frame
    (each frame's run replaces that frame's pending suggestions, so a repeat never duplicates them)."""
    chunk_run(job_id=job_id, chunk=chunk, item=_detect_item, finish=_finish, lost=LOST)


def _detect_item(job: Job, image_id: int) -> int:
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        raise ApplicationError("the image was deleted")
    return image_suggest(image=image, job=job)


def _finish(job: Job, suggested: int) -> None:
    n_errors = len(job.errors)
    job_finish(
        job=job,
        message=f"{suggested} suggested targets on {job.total - n_errors} of {job.total} frames, {n_errors} errors",
        result={**job.result, "suggested": suggested, "frames": job.total, "errors": n_errors},
    )
