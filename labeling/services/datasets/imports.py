"""Dataset import: a zip upload or a server folder -> images, targets and masks, one image at a time, reported."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from labeling import storage
from labeling.choices import JOB_FINISHED, ImageStatus, JobKind, JobStatus, MaskSource, MaskState, Split
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, GoldTruth, Image, Job, Mask, Project, Target
from labeling.permissions import MANAGE, operator, require_role
from labeling.services.audit import audit_log
from labeling.services.datasets import formats, layout
from labeling.services.datasets.archive import SourceError, looks_like_archive, source_open
from labeling.services.generation import image_generate_request
from labeling.services.images import image_create
from labeling.services.jobs import job_create, job_enqueue, job_finish, job_update_progress
from labeling.services.mask_checks import mask_point_warnings

IMPORT_DIR = "imports"
PROGRESS_EVERY_S = 0.5


# --- Requests -----------------------------------------------------------------------------------
def _options(confirm: bool, split: str | None, gold: bool = False) -> dict[str, Any]:
    if split not in (None, "") and split not in Split.values:
        raise ApplicationError(f"Unknown split {split!r}; one of {', '.join(Split.values)}.", extra={"split": split})
    if gold and confirm:
        raise ApplicationError(
            "gold and confirm exclude each other: gold frames are imported unlabelled, as work for annotators.",
            extra={"field": "gold"},
        )
    return {"confirm": bool(confirm), "split": split or None, **({"gold": True} if gold else {})}


def dataset_import_request(
    *,
    project: Project,
    upload: Any,
    actor: Any,
    confirm: bool = False,
    split: str | None = None,
    enqueue: bool = True,
    gold: bool = False,
) -> Job:
    """Keep an uploaded zip under MEDIA_ROOT/imports/ and queue its import (`batch`); 400 unless it is a zip.
    With enqueue=False the caller runs the job itself (the management command). `gold`: the labels are kept aside
    as gold (services.qa) and the frames arrive unlabelled, as normal work."""
    require_role(actor, project, MANAGE, "import datasets")
    options = _options(confirm, split, gold)
    head = upload.read(4)
    upload.seek(0)
    if not head.startswith(b"PK\x03\x04") and not head.startswith(b"PK\x05\x06"):
        raise ApplicationError(
            f"{getattr(upload, 'name', 'the upload')}: not a zip archive.", extra={"file": getattr(upload, "name", "")}
        )
    name = f"{IMPORT_DIR}/{project.pk}/{uuid.uuid4().hex}.zip"
    stored = default_storage.save(name, upload)
    try:
        with transaction.atomic():
            job = job_create(
                project=project,
                kind=JobKind.IMPORT,
                actor=actor,
                payload={"source": "zip", "path": stored, "name": getattr(upload, "name", ""), **options},
                message="queued",
            )
            if enqueue:
                transaction.on_commit(lambda: job_enqueue(job))
    except BaseException:
        storage.delete_file(stored)
        raise
    return job


@transaction.atomic
def dataset_import_folder_request(
    *,
    project: Project,
    folder: str | Path,
    actor: Any,
    confirm: bool = False,
    split: str | None = None,
    enqueue: bool = True,
    gold: bool = False,
) -> Job:
    """A Job that imports a server-side folder (the management command); it runs here or on a worker that sees the
    same file system."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise ApplicationError(f"{folder}: not a folder.", extra={"folder": str(folder)})
    job = job_create(
        project=project,
        kind=JobKind.IMPORT,
        actor=actor,
        payload={"source": "folder", "path": str(folder), "name": folder.name, **_options(confirm, split, gold)},
        message="queued",
    )
    if enqueue:
        transaction.on_commit(lambda: job_enqueue(job))
    return job


# --- The job ------------------------------------------------------------------------------------
class _Run:
    """One run of an import job: counts, the report, and throttled progress writes."""

    def __init__(self, job: Job):
        self.job = job
        self.actor = job.created_by
        self.confirm = bool(job.payload.get("confirm"))
        self.gold = bool(job.payload.get("gold"))
        self.split = job.payload.get("split")
        self.counts = {"images": 0, "already_imported": 0, "targets": 0, "masks": 0, "confirmed": 0, "skipped": 0}
        if self.gold:
            self.counts["gold"] = 0
        self.pending: list[dict[str, Any]] = []
        self.to_generate: list[int] = []
        self.generation_jobs: list[int] = []
        self.last = 0.0

    def skip(self, item: str, message: str) -> None:
        self.counts["skipped"] += 1
        self.pending.append({"item": item, "message": message})

    def progress(self, done: int, total: int, force: bool = False) -> bool:
        """Write progress now and then; False when the job was cancelled meanwhile."""
        if not force and time.monotonic() - self.last < PROGRESS_EVERY_S:
            return True
        self.last = time.monotonic()
        self.job = job_update_progress(
            job=self.job, done=done, total=total, message=self._message(), errors=self.pending
        )
        self.pending = []
        return self.job.status not in JOB_FINISHED

    def _message(self) -> str:
        c = self.counts
        return f"{c['images']} images, {c['targets']} targets, {c['masks']} masks imported; {c['skipped']} skipped"


def dataset_import(*, job_id: int) -> None:
    """Run by the worker (or the command): idempotent; an image an earlier delivery imported is not imported twice."""
    job = Job.objects.select_related("project", "created_by").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    run = _Run(job)
    try:
        source = source_open(kind=job.payload.get("source"), path=_source_path(job))
    except SourceError as exc:
        _spent(job)
        job_finish(job=job, status=JobStatus.FAILED, message=exc.message, result={"counts": run.counts})
        return
    try:
        for item in source.skipped:
            run.skip(item["item"], item["message"])
        found = layout.layout_find(source)
        for item in found.skipped:
            run.skip(item["item"], item["message"])
        total = len(found.plans)
        run.progress(0, total, force=True)
        for done, plan in enumerate(found.plans, start=1):
            _import_one(run, source, plan)
            if not run.progress(done, total):
                break  # cancelled: what landed stays (and gets its masks), the rest is not imported
        else:
            run.progress(total, total, force=True)
        _generate(run)
    except SourceError as exc:
        run.progress(run.job.done, run.job.total, force=True)
        _spent(job)
        job_finish(job=run.job, status=JobStatus.FAILED, message=exc.message, result={"counts": run.counts})
        return
    finally:
        source.close()
    _spent(job)
    job_finish(
        job=run.job,
        message=run._message(),
        result={
            "counts": run.counts,
            "formats": found.formats,
            "generating": len(run.to_generate),
            "generation_jobs": run.generation_jobs[:100],
        },
    )


def _spent(job: Job) -> None:
    """An uploaded zip is removed once its job has ended (a crash keeps it, for the redelivery)."""
    if job.payload.get("source") == "zip":
        storage.delete_file(job.payload["path"])


def _source_path(job: Job) -> str:
    if job.payload.get("source") == "zip":
        return str(Path(settings.MEDIA_ROOT) / job.payload["path"])
    return job.payload.get("path", "")


def _import_one(run: _Run, source: Any, plan: layout.ImagePlan) -> None:
    try:
        data = source.read(plan.path)
    except (ValueError, OSError) as exc:
        run.skip(plan.path, f"{plan.path}: {exc}")
        return
    if looks_like_archive(data):
        run.skip(plan.path, f"{plan.path}: a nested archive named like an image: not opened")
        return
    name = plan.key.rsplit("/", 1)[-1] + plan.path[plan.path.rfind(".") :]
    with transaction.atomic():
        _commit_without_waiting()
        try:
            image = image_create(
                project=run.job.project,
                file_name=name,
                data=data,
                actor=run.actor,
                split=plan.split or run.split,
                sequence=plan.sequence,
            )
        except ConflictError as exc:
            if _imported_by_this_job(exc.extra.get("existing_image_id"), run.job):
                run.counts["already_imported"] += 1
            else:
                run.skip(plan.path, f"{plan.path}: {exc.message}; its labels are not imported")
            return
        except ApplicationError as exc:
            run.skip(plan.path, f"{plan.path}: {exc.message}")
            return
        annotations = _annotations(run, source, plan, image)
        _store(run, image, plan, annotations)


def _commit_without_waiting() -> None:
    """One transaction per image, and PostgreSQL need not wait for each commit's WAL flush (several times faster
    on small writes). A crash may forget the last few images: the job's rerun imports them again, nothing else."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _imported_by_this_job(image_id: int | None, job: Job) -> bool:
    return AuditLog.objects.filter(
        action="image.import", object_type="image", object_id=str(image_id), data__job=job.pk
    ).exists()


def _read_label(run: _Run, source: Any, path: str, decode: Any, *args: Any) -> Any:
    try:
        return decode(source.read(path), *args)
    except (ValueError, OSError) as exc:
        run.skip(path, f"{path}: {exc}; skipped")
        return None


def _annotations(run: _Run, source: Any, plan: layout.ImagePlan, image: Image) -> list[formats.Annotation]:
    """The image's targets from the best label source it has: COCO, instance ids, a union mask, then points."""
    h, w = image.height, image.width
    if plan.coco is not None:
        if plan.coco_size is not None and plan.coco_size != (h, w):
            run.skip(plan.coco_file, f"{plan.coco_file}: COCO says {plan.path} is {plan.coco_size}, it is {(h, w)}")
            return []
        out = []
        for ann in plan.coco:
            try:
                out.append(formats.coco_annotation(ann, h, w))
            except formats.LabelError as exc:
                run.skip(plan.coco_file, f"{plan.coco_file}: annotation {_ann_id(ann)} of {plan.key}: {exc}; skipped")
        kept = [a for a in out if a.x is not None or a.raster is not None]
        for a in kept:
            if a.x is None:
                a.x, a.y = formats.centroid_point(a.raster)
        return kept
    points = _points(run, source, plan, h, w)
    if plan.instances:
        labels = _read_label(run, source, plan.instances, formats.instances_decode, h, w)
        if labels is not None:
            return _from_instances(labels, points)
    if plan.mask:
        raster = _read_label(run, source, plan.mask, formats.binary_decode, h, w)
        if raster is not None:
            return formats.union_split(raster, [(p["x"], p["y"]) for p in points])
    return [formats.Annotation(p["x"], p["y"]) for p in points]


def _ann_id(ann: Any) -> Any:
    return ann.get("id") if isinstance(ann, dict) else "?"


def _points(run: _Run, source: Any, plan: layout.ImagePlan, h: int, w: int) -> list[dict[str, Any]]:
    if plan.points is not None:
        try:
            return formats.points_from_json(plan.points, h, w)
        except formats.LabelError as exc:
            run.skip(plan.points_file, f"{plan.points_file}: {plan.key}: {exc}; its points are skipped")
    if plan.point_png:
        found = _read_label(run, source, plan.point_png, formats.points_from_png, h, w)
        if found is not None:
            return [{"x": x, "y": y} for x, y in found]
    return []


def _from_instances(labels: list[tuple[int, np.ndarray]], points: list[dict[str, Any]]) -> list[formats.Annotation]:
    """Points keep their order and take the instance their `label` names; unnamed instances get a centroid."""
    rasters = dict(labels)
    out, used = [], set()
    for point in points:
        label = point.get("label")
        out.append(formats.Annotation(point["x"], point["y"], rasters.get(label) if label not in used else None))
        used.add(label)
    for label, raster in labels:
        if label not in used:
            out.append(formats.Annotation(*formats.centroid_point(raster), raster=raster))
    return out


def _mask_state(run: _Run, declared: str | None) -> str:
    """Confirmed only when the importer says so (and the source does not say otherwise); else awaiting review."""
    if declared == MaskState.PREDICTED:
        return MaskState.PREDICTED
    if run.confirm and declared in (None, MaskState.CONFIRMED):
        return MaskState.CONFIRMED
    return MaskState.EDITED


def _store_gold(run: _Run, image: Image, plan: layout.ImagePlan, annotations: list[formats.Annotation]) -> None:
    """A gold frame: its labels kept aside (GoldTruth), the frame left new and unlabelled for annotators."""
    masks = [storage.mask_encode(a.raster)[0] if a.raster is not None else None for a in annotations]
    GoldTruth.objects.create(image=image, points=[[a.x, a.y] for a in annotations], masks=masks, job=run.job)
    data = {"job": run.job.pk, "file": plan.path, "gold": True, "targets": len(annotations)}
    audit_log(actor=run.actor, project=image.project_id, action="image.import", obj=image, data=data)
    run.counts["images"] += 1
    run.counts["gold"] += 1


def _store(run: _Run, image: Image, plan: layout.ImagePlan, annotations: list[formats.Annotation]) -> None:
    if run.gold:
        _store_gold(run, image, plan, annotations)
        return
    now = timezone.now()
    actor = run.actor
    targets = Target.objects.bulk_create(
        [
            Target(image=image, x=a.x, y=a.y, track_id=a.track_id, created_by=actor, updated_by=actor)
            for a in annotations
        ]
    )
    masks = []
    origin = plan.coco_file or plan.instances or plan.mask
    for target, a in zip(targets, annotations, strict=True):
        if a.raster is None:
            continue
        rle, area, bbox = storage.mask_encode(a.raster)
        state = _mask_state(run, a.state)
        provenance = {"import": {"job": run.job.pk, "file": origin}}
        if a.attributes:
            provenance["original"] = {k: v for k, v in a.attributes.items() if k != "point"}
        masks.append(
            Mask(
                target=target,
                image=image,
                rle=rle,
                area=area,
                bbox=bbox,
                source=MaskSource.IMPORT,
                state=state,
                provenance=provenance,
                warnings=mask_point_warnings(a.raster, a.x, a.y),  # a point outside its mask: the reviewer looks
                edited_by=actor if state == MaskState.EDITED else None,
                confirmed_by=actor if state == MaskState.CONFIRMED else None,
                confirmed_at=now if state == MaskState.CONFIRMED else None,
            )
        )
    Mask.objects.bulk_create(masks)
    confirmed = sum(m.state == MaskState.CONFIRMED for m in masks)
    if len(masks) < len(targets):
        run.to_generate.append(image.pk)
    status = ImageStatus.IN_PROGRESS if targets else ImageStatus.NEW
    if run.confirm and plan.labelled and confirmed == len(targets):
        status = ImageStatus.CONFIRMED  # every target confirmed, or a confirmed empty frame
    previous = image.status
    if status != image.status:
        image.status = status
        image.version += 1
        fields = ["status", "version", "updated_at"]
        if status == ImageStatus.CONFIRMED and image.first_confirmed_at is None:
            # Imported labels count as confirmed frames (the loop trains on them) but were never shown by a
            # generator, so they get no prequential record; the stamp keeps them out of later records.
            image.first_confirmed_at = now
            fields.append("first_confirmed_at")
        image.save(update_fields=fields)
    # One row per imported image: its status change and which masks arrived confirmed (ids from bulk_create).
    audit_log(
        actor=actor,
        project=image.project_id,
        action="image.import",
        obj=image,
        data={
            "job": run.job.pk,
            "file": plan.path,
            "targets": len(targets),
            "masks": len(masks),
            "confirmed_masks": [m.pk for m in masks if m.state == MaskState.CONFIRMED],
            "from": previous,
            "to": image.status,
            "version": image.version,
        },
    )
    run.counts["images"] += 1
    run.counts["targets"] += len(targets)
    run.counts["masks"] += len(masks)
    run.counts["confirmed"] += confirmed


def _generate(run: _Run) -> None:
    """Imported points without masks: masks are generated in the background, one generation job per image."""
    if not run.to_generate:
        return
    try:  # the batch pre-labeler, where this build has it: chunks spread over `batch` workers
        from labeling.services.prelabel import project_prelabel_request
    except ImportError:
        project_prelabel_request = None
    if project_prelabel_request is not None:
        try:
            with operator():  # the import was authorised when it was asked for; this is its follow-up
                job = project_prelabel_request(
                    project=run.job.project, actor=run.actor, image_ids=run.to_generate, include_predicted=False
                )
            run.generation_jobs.append(job.pk)
            return
        except ApplicationError:
            pass  # e.g. the importer is no longer a manager: fall back to per-image generation
    with transaction.atomic():
        for image in Image.objects.filter(pk__in=run.to_generate).select_related("project"):
            run.generation_jobs.append(image_generate_request(image=image, actor=run.actor).pk)
