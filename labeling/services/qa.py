"""Annotator QA: every submission is kept as it was and scored, once the reviewer confirms the frame, against the
confirmed masks with the IR metrics (pixel IoU, target Pd, false targets and Fa), so a project sees each
annotator's quality and edit time, and how they change, without a separate gold set.

Gold frames (imported as gold: their labels are kept aside and the frame is normal, unlabelled work, hidden among
the rest) score a submission at once against their gold labels (`reference` "gold").

A submission records the frame's points and masks at submit time (whoever made the masks: a click's generated
mask, or the annotator's own edit) and the time since the annotator claimed the frame. At confirmation each
unscored submission of the frame is scored (ml.metrics.frame_counts on the union masks: the same rules as the
benchmarks). A reviewer's changes between submission and confirmation are what the figures measure; a frame
confirmed unchanged scores 100.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.utils import timezone

from labeling import ml_adapter, storage
from labeling.choices import MaskState
from labeling.models import AuditLog, GoldTruth, Image, Mask, Submission, Target


def _started(image: Image, actor: Any, since: Any) -> Any:
    """When the annotator took this frame: their last claim of it, else their first target on it (after `since`)."""
    claims = AuditLog.objects.filter(  # the (project, object_type, object_id) index finds the frame's rows
        project_id=image.project_id, object_type="image", object_id=str(image.pk), action="image.claim", actor=actor
    )
    targets = Target.objects.filter(image=image, created_by=actor)
    if since is not None:
        claims, targets = claims.filter(created_at__gt=since), targets.filter(created_at__gt=since)
    claim = claims.order_by("-created_at").values_list("created_at", flat=True).first()
    return claim or targets.order_by("created_at").values_list("created_at", flat=True).first()


def submission_record(*, image: Image, actor: Any) -> Submission:
    """Keep what the annotator submits (called by services.images.image_submit inside its transaction)."""
    targets = list(Target.objects.filter(image=image).order_by("pk"))
    masks = {
        m.target_id: m.rle
        for m in Mask.objects.filter(image=image).exclude(state=MaskState.REJECTED).only("target_id", "rle")
    }
    previous = Submission.objects.filter(image=image).order_by("-submitted_at").values_list("submitted_at", flat=True)
    now = timezone.now()
    started = _started(image, actor, previous.first())
    submission = Submission.objects.create(
        project_id=image.project_id,
        image=image,
        annotator=actor if getattr(actor, "is_authenticated", False) else None,
        started_at=started,
        submitted_at=now,
        seconds=(now - started).total_seconds() if started else None,
        points=[[t.x, t.y] for t in targets],
        masks=[masks.get(t.pk) for t in targets],
    )
    gold = GoldTruth.objects.filter(image=image).first()
    if gold is not None:  # a gold frame: scored at once against its gold labels
        _score(submission, _union(gold.masks, (image.height, image.width)), "gold", None)
    return submission


def _score(submission: Submission, truth: np.ndarray, reference: str, reviewer: Any) -> None:
    counts = ml_adapter.union_counts(submission_union(submission, truth.shape), truth)
    for key, value in counts.items():
        setattr(submission, key, value)
    submission.reference = reference
    submission.reviewer = reviewer if getattr(reviewer, "is_authenticated", False) else None
    submission.scored_at = timezone.now()
    submission.save(update_fields=[*counts, "reference", "reviewer", "scored_at"])


def submission_union(submission: Submission, shape: tuple[int, int]) -> np.ndarray:
    """The union of the masks a submission handed in."""
    return _union(submission.masks, shape)


def _union(rles: list[str | None], shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    for rle in rles:
        if rle:
            out |= storage.mask_decode(rle, *shape)
    return out


def submissions_score(*, image: Image, reviewer: Any) -> int:
    """Score the frame's unscored submissions against its confirmed masks (called by image_confirm); how many."""
    pending = list(Submission.objects.filter(image=image, scored_at__isnull=True))
    if not pending:
        return 0
    shape = (image.height, image.width)
    truth = _union(
        list(Mask.objects.filter(image=image, state=MaskState.CONFIRMED).values_list("rle", flat=True)), shape
    )
    for submission in pending:
        _score(submission, truth, "review", reviewer)
    return len(pending)
