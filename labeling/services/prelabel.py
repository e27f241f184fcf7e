"""Batch pre-labeling: masks for a whole project or a selection, as one Job split in chunks over `batch` workers.

Each chunk is its own task, so M batch workers share a big project. Progress (done/total, per-image errors)
lives in the Job; a chunk checks the job between images and stops when it was cancelled. Worker faults: a
chunk whose worker dies is redelivered and resumes after its last finished image (its progress is in
Job.result; chunked_jobs runs it); a chunk lost too often records its remaining images as errors. Predictions never
overwrite a human edit (mask_store_prediction) and stay `predicted` until a human confirms them.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from labeling import ml_adapter
from labeling.choices import ImageStatus, JobKind, MaskState
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Mask, Project, Target
from labeling.permissions import MANAGE, require_role
from labeling.services.chunked_jobs import chunk_run, chunked_job_start, selection_ids
from labeling.services.image_masks import image_masks_generate
from labeling.services.jobs import job_finish
from labeling.services.serving import generator_spec

CHUNK_SIZE = 16  # images per task: small enough to spread over workers, big enough to keep a model warm
LOST = "the worker was lost repeatedly while pre-labeling this chunk"


def prelabel_candidates(project: Project, *, include_predicted: bool = True) -> Any:
    """Images with targets still needing a machine mask: a target without a mask, or (include_predicted) only
    predicted ones, e.g. after a new model is promoted. Confirmed images are left alone."""
    without_mask = Target.objects.filter(image=OuterRef("pk"), mask__isnull=True)
    predicted = Mask.objects.filter(image=OuterRef("pk"), state=MaskState.PREDICTED)
    condition = Q(Exists(without_mask)) | (Q(Exists(predicted)) if include_predicted else Q(pk__in=[]))
    return Image.objects.filter(project=project).exclude(status=ImageStatus.CONFIRMED).filter(condition).order_by("pk")


@transaction.atomic
def project_prelabel_request(
    *, project: Project, actor: Any, image_ids: list[int] | None = None, include_predicted: bool = True
) -> Job:
    """A pre-labeling Job over the project (or `image_ids`); its chunks go to the `batch` queue on commit."""
    require_role(actor, project, MANAGE, "start pre-labeling")
    ids = selection_ids(project, image_ids, prelabel_candidates(project, include_predicted=include_predicted))
    return chunked_job_start(
        project=project,
        kind=JobKind.PRELABEL,
        actor=actor,
        ids=ids,
        chunk_size=CHUNK_SIZE,
        empty=("nothing to pre-label", {"stored": 0}),
        include_predicted=include_predicted,
    )


def _prelabel_image(image_id: int, spec: ml_adapter.GeneratorSpec, job: Job) -> int:
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        raise ApplicationError("the image was deleted")
    return image_masks_generate(image=image, spec=spec, job=job)[0]


def project_prelabel(*, job_id: int, chunk: int = 0) -> None:
    """Run by a `batch` worker: pre-label one chunk of the job's images, resuming after a lost worker."""
    spec: ml_adapter.GeneratorSpec | None = None

    def item(job: Job, image_id: int) -> int:
        nonlocal spec
        spec = spec or generator_spec(job.project)  # once per chunk: the generator serving when the chunk started
        return _prelabel_image(image_id, spec, job)

    chunk_run(job_id=job_id, chunk=chunk, item=item, finish=_finish, lost=LOST)


def _finish(job: Job, _made: int) -> None:
    n_errors = len(job.errors)
    # Counted in the database, not summed per image: a chunk killed after storing an image's masks redoes that
    # image, and the redo skips the masks already there (unchanged), so a running sum would miss them.
    stored = Mask.objects.filter(image_id__in=job.payload.get("image_ids", []), provenance__job=job.pk).count()
    job_finish(
        job=job,
        message=f"{job.total - n_errors} of {job.total} images pre-labeled ({stored} masks), {n_errors} errors",
        result={**job.result, "stored": stored, "images": job.total, "errors": n_errors},
    )
