"""Double annotation: a share of the frames (`settings.qa.double_share`, picked by a stable hash of the frame, so the
same frames are picked however the work is ordered) is labelled twice, blind. The first submit of a picked frame is
kept as its first pass (a Submission: points and masks as they were) and the frame goes back to the pool, empty and
unassigned, for anyone but that annotator; the second submit is the frame's labels, goes to review as usual, and
both passes are scored against each other at once (the inter-annotator agreement, with the benchmarks' rules). At
confirmation both are scored against the confirmed masks like any submission (services.qa).

Picked only where the frame was labelled from scratch by its submitter (never submitted or confirmed before, no
target of anyone else's), is not a gold frame, and another member can annotate (else the frame would wait for
ever). The first pass leaves the frame (its targets and masks are deleted, its decided
suggestions are offered again) so the second annotator sees what the first one saw, not what they did; nothing is
lost: the Submission keeps it, the audit log names it, and a reviewer reads it beside the second pass
(selectors.image_double)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import Q

from labeling import ml_adapter
from labeling.choices import ImageStatus, Role, SuggestionState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import GoldTruth, Image, Membership, Submission, Suggestion, Target
from labeling.services.audit import audit_log
from labeling.services.projects import project_settings
from labeling.services.qa import submission_union

ANNOTATING_ROLES = (Role.ANNOTATOR, Role.REVIEWER, Role.MANAGER, Role.OWNER)
OPEN = (ImageStatus.NEW, ImageStatus.IN_PROGRESS)


def double_picked(image: Image, share: float) -> bool:
    """Whether the frame is one of the `share` labelled twice: a stable hash of (project, frame), not the order
    frames are submitted in."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"double:{image.project_id}:{image.pk}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def double_state(image: Image) -> str:
    """'' (labelled once), 'second_pass' (its first pass is kept aside; it waits for a second annotator) or
    'labelled_twice', from the image row alone (lists show it for every frame)."""
    if image.first_pass_by_id is None:
        return ""
    return "second_pass" if image.status in OPEN else "labelled_twice"


def second_pass_pending(image: Image) -> bool:
    """The frame holds a first pass and waits for its second annotator (an unpaired first pass, whoever made it:
    the mark on the image goes when that account is deleted)."""
    return image.status in OPEN and _unpaired_first(image) is not None


def _unpaired_first(image: Image, exclude: int | None = None) -> Submission | None:
    passes = Submission.objects.filter(image=image, blind_pass=1, peer__isnull=True)
    if exclude is not None:
        passes = passes.exclude(pk=exclude)
    return passes.order_by("-pk").first()


def require_not_first_pass(image: Image, actor: Any, action: str) -> None:
    """403 for the first annotator of a frame waiting for its second, blind pass, while another member can make
    it (else the frame would wait for ever: its first annotator goes on, and the frame is labelled once)."""
    if image.first_pass_by_id is None or image.first_pass_by_id != getattr(actor, "pk", None):
        return
    if image.status in OPEN and _others_annotate(image.project_id, actor):
        raise ApplicationError(
            f"You made the first pass of image {image.pk}, which is labelled twice (settings.qa.double_share); "
            f"another annotator makes the second, blind pass, so you cannot {action} it now.",
            extra={"rule": "double_annotation", "image_id": image.pk},
            status_code=403,
        )


def require_second_pass_done(image: Image) -> None:
    """409 for confirming a frame that waits for its second pass: it holds no labels (the first pass is kept
    aside), so confirming it would train and export an empty frame."""
    if second_pass_pending(image):
        raise ConflictError(
            f"Image {image.pk} is labelled twice and waits for its second, blind pass; it has no labels to confirm "
            "yet (the first pass is kept aside for the comparison).",
            extra={"rule": "double_annotation", "image_id": image.pk, "status": image.status},
        )


def _others_annotate(project_id: int, actor: Any) -> bool:
    members = Membership.objects.filter(project_id=project_id, role__in=ANNOTATING_ROLES, user__is_active=True)
    return members.exclude(user_id=getattr(actor, "pk", None)).exists()


def claim_exclusion(project_id: int, actor: Any) -> Q:
    """The frames "next image" must not hand `actor`: those waiting for a second pass of their own first one
    (unless nobody else can annotate, when the frame is theirs to finish)."""
    return Q(first_pass_by=actor) if _others_annotate(project_id, actor) else Q(pk__in=[])


def double_after_submit(*, image: Image, submission: Submission, actor: Any) -> Image:
    """Called by services.images.image_submit (inside its transaction, the image row locked) once the submission is
    recorded: keep a picked frame's first pass aside and hand the frame out again, or score a second pass against
    the first. Returns the image as it now is."""
    first = _unpaired_first(image, exclude=submission.pk)
    if first is not None and first.annotator_id is not None and first.annotator_id == submission.annotator_id:
        # Nobody else was left to make the second pass (require_not_first_pass let them on): labelled once.
        first.blind_pass = None
        first.save(update_fields=["blind_pass"])
        audit_log(
            actor=actor,
            project=image.project_id,
            action="image.double_dropped",
            obj=image,
            data={"submission": first.pk, "reason": "no other annotator"},
        )
        return image
    if first is not None:  # the second pass (found by its first, whoever made it, even a since-deleted account)
        _pair(image, first, submission, actor)
        return image
    if image.first_pass_by_id is not None:  # labelled twice already: a resubmit after a rejection
        return image
    share = float(project_settings(image.project)["qa"]["double_share"])
    if not double_picked(image, share) or not _from_scratch(image, submission, actor):
        return image
    if GoldTruth.objects.filter(image=image).exists() or not _others_annotate(image.project_id, actor):
        return image
    return _first_pass(image, submission, actor)


def _from_scratch(image: Image, submission: Submission, actor: Any) -> bool:
    """The frame was never submitted or confirmed before and every target on it is the submitter's own: a second
    annotator can start where the first one did (an empty frame and the same suggestions), and clearing it loses
    nothing that was not theirs (imported or another person's labels are never cleared)."""
    if (
        image.first_confirmed_at is not None
        or Submission.objects.filter(image=image).exclude(pk=submission.pk).exists()
    ):
        return False
    return not Target.objects.filter(image=image).exclude(created_by=actor).exists()


def _first_pass(image: Image, submission: Submission, actor: Any) -> Image:
    submission.blind_pass = 1
    submission.save(update_fields=["blind_pass"])
    _, deleted = Target.objects.filter(image=image).delete()  # masks go with them; the submission holds both
    removed = deleted.get(Target._meta.label, 0)
    Suggestion.objects.filter(image=image).exclude(state=SuggestionState.PENDING).update(
        state=SuggestionState.PENDING, target=None, decided_by=None, decided_at=None
    )
    previous = image.status
    image.status, image.assigned_to, image.submitted_by, image.first_pass_by = ImageStatus.NEW, None, None, actor
    image.uncertainty, image.uncertainty_detail = None, {}  # its ranking counted the first pass's points
    image.version += 1
    fields = ["status", "assigned_to", "submitted_by", "first_pass_by", "uncertainty", "uncertainty_detail"]
    image.save(update_fields=[*fields, "version", "updated_at"])
    audit_log(
        actor=actor,
        project=image.project_id,
        action="image.double_first_pass",
        obj=image,
        data={"from": previous, "to": image.status, "submission": submission.pk, "targets": removed},
    )
    return image


def _pair(image: Image, first: Submission, second: Submission, actor: Any) -> None:
    shape = (image.height, image.width)
    a, b = submission_union(first, shape), submission_union(second, shape)
    first.peer, first.agreement = second, ml_adapter.union_counts(a, b)
    second.peer, second.agreement, second.blind_pass = first, ml_adapter.union_counts(b, a), 2
    first.save(update_fields=["peer", "agreement"])
    second.save(update_fields=["peer", "agreement", "blind_pass"])
    audit_log(
        actor=actor,
        project=image.project_id,
        action="image.double_agreement",
        obj=image,
        data={"first": first.pk, "second": second.pk, **ml_adapter.pooled([second.agreement])},
    )
