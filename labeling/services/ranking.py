"""Ranking frames for the active claim order: how unsure the generators are about each unconfirmed frame.

A `rank` batch Job (manager+, or the loop after a promotion, which changes what the serving generator is unsure
of) scores every unconfirmed frame with `ml_adapter.frame_uncertainty`: the serving generator against the other
kind (the cold start against the newest EDGSP weights, an EDGSP version against the project's cold start), on the
frame's targets, or the detector's candidates on a frame nobody has clicked. With `claim.order` "active", "next
image" hands out the highest score first (services.images.claim_ordering). The score and its parts stay on the
image, so the labeler can say why it picked the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from labeling import ml_adapter, storage
from labeling.choices import GeneratorKind, ImageStatus, JobKind, ModelStatus
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, ModelVersion, Project
from labeling.permissions import MANAGE, operator, require_role
from labeling.services.chunked_jobs import chunk_run, chunked_job_start, selection_ids
from labeling.services.jobs import job_finish
from labeling.services.projects import project_settings
from labeling.services.serving import (
    base_weights,
    checkpoint_path,
    default_spec,
    generator_key,
    serving_model,
    version_spec,
)

CHUNK_SIZE = 32  # frames per task: two generators (and the detector) take ~0.1 s a SIRST-sized frame on a core
LOST = "the worker was lost repeatedly while ranking this chunk"


def rank_specs(project: Project) -> tuple[ml_adapter.GeneratorSpec, ml_adapter.GeneratorSpec, str]:
    """The serving generator, the one it is compared with (the other kind), and a label naming both."""
    champion = serving_model(project)
    serving = version_spec(champion) if champion is not None else default_spec(project)
    if serving.method == ml_adapter.EDGSP:  # a fine-tuned version, or base weights chosen as the project's default
        other = default_spec(project)
        if other.method == ml_adapter.EDGSP:  # the default is those base weights: compare the plain cold start
            other = ml_adapter.GeneratorSpec()
        return serving, other, f"{generator_key(champion)} vs cold start"
    newest = (
        ModelVersion.objects.filter(project=project, kind=GeneratorKind.EDGSP)
        .exclude(status=ModelStatus.TRAINING)
        .exclude(checkpoint="")
        .order_by("-pk")
        .first()
    )
    if newest is not None and Path(checkpoint_path(newest)).is_file():
        return serving, version_spec(newest), f"cold start vs v{newest.number}"
    base = base_weights()
    if base is not None and base.is_file():
        spec = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=str(base))
        return serving, spec, "cold start vs base weights"
    return serving, serving, "cold start alone"


@transaction.atomic
def frames_rank_request(*, project: Project, actor: Any, image_ids: list[int] | None = None) -> Job:
    """A ranking Job over the project's unconfirmed frames (or `image_ids` of them); chunks go to `batch` on
    commit. Manager+: it decides what the whole team labels next."""
    require_role(actor, project, MANAGE, "rank the project's frames")
    ids = selection_ids(project, image_ids, Image.objects.filter(project=project).exclude(status=ImageStatus.CONFIRMED))
    _, _, compared = rank_specs(project)
    empty = ("no unconfirmed frame to rank", {"ranked": 0})
    return chunked_job_start(
        project=project, kind=JobKind.RANK, actor=actor, ids=ids, chunk_size=CHUNK_SIZE, empty=empty, compared=compared
    )


def rank_after_promotion(project: Project) -> Job | None:
    """The loop's follow-up of a promotion when the project claims in active order: what the new generator is
    unsure of is not what the old one was."""
    if project_settings(project)["claim"]["order"] != "active":
        return None
    with operator():
        return frames_rank_request(project=project, actor=None)


def image_rank(*, image: Image) -> float | None:
    """Score one frame (outside any transaction: it takes a while) and store the score; None for a confirmed frame
    (it leaves the claim order)."""
    if image.status == ImageStatus.CONFIRMED:
        return None
    serving, other, compared = rank_specs(image.project)
    points = np.asarray(list(image.targets.order_by("pk").values_list("x", "y")), dtype=np.float64).reshape(-1, 2)
    result = ml_adapter.frame_uncertainty(storage.read_pixels(image), points, serving, other)
    detail = {**result, "compared": compared, "ranked_at": timezone.now().isoformat()}
    Image.objects.filter(pk=image.pk).update(uncertainty=result["score"], uncertainty_detail=detail)
    return float(result["score"])


# --- The batch job (a `batch` worker runs one chunk per task) -----------------------------------------------


def frames_rank(*, job_id: int, chunk: int = 0) -> None:
    """Rank one chunk of the job's frames; a redelivered chunk resumes after its last finished frame (a frame
    ranked twice just gets the same score again)."""
    chunk_run(job_id=job_id, chunk=chunk, item=_rank_item, finish=_finish, lost=LOST)


def _rank_item(job: Job, image_id: int) -> int:
    image = Image.objects.select_related("project").filter(pk=image_id).first()
    if image is None:
        raise ApplicationError("the image was deleted")
    return 0 if image_rank(image=image) is None else 1


def _finish(job: Job, ranked: int) -> None:
    n_errors = len(job.errors)
    job_finish(
        job=job,
        message=f"{ranked} of {job.total} frames ranked ({job.payload.get('compared', '')}), {n_errors} errors",
        result={**job.result, "ranked": ranked, "frames": job.total, "errors": n_errors},
    )
