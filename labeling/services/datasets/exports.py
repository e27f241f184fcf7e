"""Dataset export: a zip (SIRST tree, COCO, instance PNGs, manifest) written entry by entry under MEDIA_ROOT."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Prefetch

from labeling import storage
from labeling.choices import JOB_FINISHED, ImageStatus, JobKind, JobStatus, MaskState, Split
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Project, Target
from labeling.permissions import MANAGE, require_role
from labeling.services.datasets.formats import centroid_point
from labeling.services.datasets.zipwriter import DATE, ZipWriter, json_array_copy, png_fast
from labeling.services.jobs import job_create, job_enqueue, job_finish, job_update_progress

EXPORT_DIR = "exports"
FORMATS = ("sirst", "coco", "instances")
CHUNK = 100  # images fetched (with their targets and masks) per query
FORMAT_VERSION = 1
COMPLETE_RULE = (
    "A frame is complete when every one of its targets has a confirmed mask, or when it has no target and was "
    "confirmed (empty). Only complete frames get a masks/ and instances/ file and a line in splits/; the others are "
    "listed in unconfirmed/<split>.txt, so no frame with targets is ever exported as an empty or partial mask."
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STORED = {"PNG", "JPEG"}  # already compressed: stored as is, which is also faster


def export_options(*, formats: list[str] | None, confirmed_only: bool, split: str | None) -> dict[str, Any]:
    chosen = list(formats or FORMATS)
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise ApplicationError(f"Unknown export formats {unknown}; choose from {list(FORMATS)}.")
    if split not in (None, "") and split not in Split.values:
        raise ApplicationError(f"Unknown split {split!r}; one of {', '.join(Split.values)}.", extra={"split": split})
    return {
        "formats": [f for f in FORMATS if f in chosen],
        "confirmed_only": bool(confirmed_only),
        "split": split or None,
    }


def dataset_export_request(
    *,
    project: Project,
    actor: Any,
    formats: list[str] | None = None,
    confirmed_only: bool = False,
    split: str | None = None,
    enqueue: bool = True,
) -> Job:
    """A `batch` Job that writes the export zip; sent to the worker after commit (the command may run it inline)."""
    require_role(actor, project, MANAGE, "export datasets")
    options = export_options(formats=formats, confirmed_only=confirmed_only, split=split)
    with transaction.atomic():
        job = job_create(project=project, kind=JobKind.EXPORT, actor=actor, payload=options, message="queued")
        if enqueue:
            transaction.on_commit(lambda: job_enqueue(job))
    return job


def export_path(job: Job) -> str:
    """Where the job's zip lives, relative to MEDIA_ROOT."""
    return f"{EXPORT_DIR}/{job.project_id}/export-{job.pk}.zip"


def _leftovers(folder: Path, job_id: int | str = "*") -> list[Path]:
    """A killed export's temp folder (.export-<job>-*) and partial zip (export-<job>.zip.part) in `folder`."""
    return [*folder.glob(f".export-{job_id}-*"), *folder.glob(f"export-{job_id}.zip.part")]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def export_leftovers_remove() -> int:
    """Remove what killed exports left under MEDIA_ROOT (their job no longer queued or running); returns how many.
    A worker killed mid-export never reaches its cleanup, and a rerun only cleans its own job's files."""
    root = Path(settings.MEDIA_ROOT) / EXPORT_DIR
    found = {path: int(re.search(r"\d+", path.name).group()) for d in root.glob("*") for path in _leftovers(d)}
    running = Job.objects.filter(pk__in=set(found.values()), status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    active = set(running.values_list("pk", flat=True))
    gone = [path for path, job in found.items() if job not in active]
    for path in gone:
        _remove(path)
    return len(gone)


def export_file(job: Job, *, actor: Any) -> Path:
    """The finished export's zip on disk; 409 while running, 404 when it is not an export or its file is gone."""
    require_role(actor, job.project, MANAGE, "download exports")
    if job.kind != JobKind.EXPORT:
        raise ApplicationError(f"Job {job.pk} is not an export.", status_code=404)
    if job.status != JobStatus.SUCCEEDED:
        raise ApplicationError(
            f"Export {job.pk} is {job.status}; download it once it has succeeded.",
            extra={"status": job.status},
            status_code=409,
        )
    path = Path(settings.MEDIA_ROOT) / export_path(job)
    if not path.is_file():
        raise ApplicationError(f"The file of export {job.pk} no longer exists.", status_code=404)
    return path


def export_stem(name: str) -> str:
    """A file name -> a safe dataset id (idempotent, so a re-exported import keeps its names)."""
    stem = name.rsplit("/", 1)[-1]
    stem = stem[: stem.rfind(".")] if "." in stem else stem
    return _UNSAFE.sub("_", stem).strip("._")[:120] or "image"


def _images(job: Job) -> Any:
    options = job.payload
    queryset = Image.objects.filter(project=job.project_id)
    if options.get("split"):
        queryset = queryset.filter(split=options["split"])
    if options.get("confirmed_only"):
        queryset = queryset.filter(status=ImageStatus.CONFIRMED)
    return queryset.order_by("id")


def _chunks(queryset: Any) -> Any:
    """Images in id order, CHUNK at a time, each with its targets and masks (memory bounded by CHUNK)."""
    last = 0
    targets = Target.objects.select_related("mask__confirmed_by", "mask__model_version", "created_by").order_by("id")
    while True:
        chunk = list(queryset.filter(pk__gt=last).prefetch_related(Prefetch("targets", queryset=targets))[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def _mask_of(target: Target) -> Any:
    try:
        return target.mask
    except Target.mask.RelatedObjectDoesNotExist:
        return None


class _Export:
    def __init__(self, job: Job, zipf: ZipWriter, tmp: Path):
        self.job, self.zip, self.tmp = job, zipf, tmp
        self.formats = set(job.payload.get("formats") or FORMATS)
        self.confirmed_only = bool(job.payload.get("confirmed_only"))
        self.names: set[str] = set()
        self.splits = {split: open(tmp / f"split-{split}", "w") for split in Split.values}  # noqa: SIM115
        # Frames not fully confirmed: no masks/ or instances/ file, not in splits/, listed here per split instead.
        self.unconfirmed = {split: open(tmp / f"unconfirmed-{split}", "w") for split in Split.values}  # noqa: SIM115
        self.coco_images = open(tmp / "coco-images", "w+")  # noqa: SIM115
        self.coco_annotations = open(tmp / "coco-annotations", "w+")  # noqa: SIM115
        self.counts: Counter = Counter()
        self.confirmers: dict[str, Counter] = defaultdict(Counter)
        self.models: dict[int, dict[str, Any]] = {}
        self.generators: Counter = Counter()
        self.ann_id = 0
        self.tracks: dict[str, list[tuple[int, int, list[int]]]] = defaultdict(list)  # sequence -> MOT rows
        self.track_next: dict[str, int] = {}
        self.track_of_target: dict[int, int] = {}

    def close(self) -> None:
        for handle in (*self.splits.values(), *self.unconfirmed.values(), self.coco_images, self.coco_annotations):
            handle.close()

    def name_for(self, image: Image) -> str:
        stem = export_stem(image.original_name)
        if stem in self.names:
            stem = f"{stem}_{image.pk}"
        self.names.add(stem)
        return stem

    def add(self, image: Image) -> None:
        stem = self.name_for(image)
        suffix = {"PNG": "png", "TIFF": "tif", "JPEG": "jpg", "BMP": "bmp"}[image.format]
        file_name = f"{stem}.{suffix}"
        h, w = image.height, image.width
        self.zip.write(f"images/{file_name}", storage.read_original(image), stored=image.format in _STORED)
        targets = list(image.targets.all())
        rows = []  # (target, mask row or None, raster or None, exported as a mask?)
        for target in targets:
            mask = _mask_of(target)
            usable = mask is not None and mask.state != MaskState.REJECTED
            if self.confirmed_only and usable:
                usable = mask.state == MaskState.CONFIRMED
            raster = storage.mask_decode(mask.rle, h, w) if usable else None
            rows.append((target, mask if usable else None, raster))
        confirmed = [(t, m, r) for t, m, r in rows if m is not None and m.state == MaskState.CONFIRMED]
        complete = _complete(image, rows, confirmed)
        (self.splits if complete else self.unconfirmed)[image.split].write(stem + "\n")
        self.counts["frames_complete" if complete else "frames_unconfirmed"] += 1
        if "sirst" in self.formats:
            self._sirst(stem, h, w, rows, confirmed if complete else None)
        if "instances" in self.formats and complete:
            labels = np.zeros((h, w), np.uint16)
            for index, (_, _, raster) in enumerate(confirmed, start=1):
                labels[raster] = index
            self.zip.write(f"instances/{stem}.png", png_fast(labels))
        if "coco" in self.formats:
            self._coco(image, file_name, rows, complete)
        if image.sequence:
            for target, mask, _ in rows:
                if mask is not None and mask.area:
                    self.tracks[image.sequence].append((image.frame_index or 0, self.track(image, target), mask.bbox))
        self.counts["images"] += 1
        self.counts["targets"] += len(rows)
        self.counts["masks"] += sum(m is not None for _, m, _ in rows)
        self.counts["confirmed_masks"] += len(confirmed)
        self.counts[f"split_{image.split}"] += 1
        for _, mask, _ in rows:
            if mask is not None:
                self._provenance(mask)
        for who in {_confirmer(m) for _, m, _ in confirmed}:
            self.confirmers[who]["images"] += 1

    def track(self, image: Image, target: Target) -> int | None:
        """A target's track id in its sequence: its own, else a new one after the sequence's highest (so every
        target of a sequence has one, and untracked targets never share one)."""
        if not image.sequence:
            return None
        if target.track_id is not None:
            return target.track_id
        if target.pk not in self.track_of_target:
            if image.sequence not in self.track_next:
                tracked = Target.objects.filter(image__project_id=image.project_id, image__sequence=image.sequence)
                self.track_next[image.sequence] = (tracked.aggregate(m=Max("track_id"))["m"] or 0) + 1
            self.track_of_target[target.pk] = self.track_next[image.sequence]
            self.track_next[image.sequence] += 1
        return self.track_of_target[target.pk]

    def _sirst(self, stem: str, h: int, w: int, rows: list, confirmed: list | None) -> None:
        """`confirmed` is None for a frame not fully confirmed: its points are written, never a mask."""
        if confirmed is not None:
            union = np.zeros((h, w), bool)
            for _, _, raster in confirmed:
                union |= raster
            self.zip.write(f"masks/{stem}.png", png_fast(np.where(union, 255, 0).astype(np.uint8)))
        labels = {t.pk: i for i, (t, _, _) in enumerate(confirmed or [], start=1)}
        points = [
            {"x": t.x, "y": t.y, "label": labels.get(t.pk), "mask": m.state if m is not None else None}
            for t, m, _ in rows
        ]
        body = {"image": stem, "width": w, "height": h, "points": points}
        self.zip.write(f"points/{stem}.json", json.dumps(body, sort_keys=True).encode())
        centroid, coarse = np.zeros((h, w), bool), np.zeros((h, w), bool)
        for target, mask, raster in rows:
            cx, cy = _centroid(raster, mask.bbox) if mask is not None and mask.area else (target.x, target.y)
            centroid[_clamp(round(cy), h), _clamp(round(cx), w)] = True
            coarse[_clamp(round(target.y), h), _clamp(round(target.x), w)] = True
        self.zip.write(f"points/centroid/{stem}.png", png_fast(np.where(centroid, 255, 0).astype(np.uint8)))
        self.zip.write(f"points/coarse/{stem}.png", png_fast(np.where(coarse, 255, 0).astype(np.uint8)))

    def _coco(self, image: Image, file_name: str, rows: list, complete: bool) -> None:
        """One annotation per target that has a mask (with its state); a target without one is no empty mask but an
        entry of the image's `unmasked_points` (its place among the targets, its mask's state if rejected)."""
        h, w = image.height, image.width
        unmasked = []
        for index, (target, mask, _) in enumerate(rows):
            if mask is None:
                kept = _mask_of(target)  # none, or a rejected one
                unmasked.append({"x": target.x, "y": target.y, "index": index, "state": kept and kept.state})
        entry = {
            "id": image.pk,
            "file_name": file_name,
            "width": w,
            "height": h,
            "split": image.split,
            "bit_depth": image.bit_depth,
            "sha256": image.content_hash,
            "complete": complete,
            "unmasked_points": unmasked,
        }
        if image.sequence:
            entry.update(sequence=image.sequence, frame_index=image.frame_index)
        self.coco_images.write(json.dumps(entry) + ",\n")
        for target, mask, _ in rows:
            if mask is None:
                continue
            self.ann_id += 1
            ann = {
                "id": self.ann_id,
                "image_id": image.pk,
                "category_id": 1,
                "segmentation": {"size": [h, w], "counts": mask.rle},
                "area": mask.area,
                "bbox": mask.bbox,
                "iscrowd": 0,
                "keypoints": [target.x, target.y, 2],
                "num_keypoints": 1,
                "attributes": _attributes(target, mask),
            }
            if image.sequence:
                ann["track_id"] = self.track(image, target)
            self.coco_annotations.write(json.dumps(ann) + ",\n")

    def _provenance(self, mask: Any) -> None:
        self.generators[mask.source] += 1
        if mask.model_version_id:
            mv = mask.model_version
            self.models[mv.pk] = {"id": mv.pk, "number": mv.number, "arch": mv.arch, "status": mv.status}
        if mask.state == MaskState.CONFIRMED:
            self.confirmers[_confirmer(mask)]["masks"] += 1

    def finish(self, sums_path: Path) -> dict[str, Any]:
        for folder, handles in (("splits", self.splits), ("unconfirmed", self.unconfirmed)):
            for split, handle in handles.items():
                handle.close()
                if os.path.getsize(handle.name):
                    self.zip.write_file(f"{folder}/{split}.txt", Path(handle.name))
        if "coco" in self.formats:
            self._coco_write()
        self._tracks_write()
        manifest = self._manifest()
        self.zip.write("manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode())
        self.zip.sums.close()
        info = zipfile.ZipInfo("SHA256SUMS", date_time=DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(sums_path, "rb") as src, self.zip.zip.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        return manifest

    def _coco_write(self) -> None:
        path = self.tmp / "coco.json"
        header = {
            "info": {"description": f"project {self.job.project_id}", "version": FORMAT_VERSION},
            "licenses": [],
            "categories": [{"id": 1, "name": "target", "supercategory": "ir", "keypoints": ["point"], "skeleton": []}],
        }
        with open(path, "w") as out:
            out.write(json.dumps(header)[:-1] + ', "images": [\n')
            json_array_copy(self.coco_images, out)
            out.write('], "annotations": [\n')
            json_array_copy(self.coco_annotations, out)
            out.write("]}\n")
        self.zip.write_file("annotations/instances.json", path)

    def _tracks_write(self) -> None:
        """tracks/<sequence>.txt, MOT style: frame, track id, box left, top (1-based), width, height, 1, -1, -1, -1
        per masked target, by frame then track."""
        names: set[str] = set()
        for sequence in sorted(self.tracks):
            name = export_stem(sequence)
            name = name if name not in names else f"{name}_{len(names)}"
            names.add(name)
            lines = [
                f"{frame},{track},{x + 1},{y + 1},{w},{h},1,-1,-1,-1"
                for frame, track, (x, y, w, h) in sorted(self.tracks[sequence], key=lambda r: (r[0], r[1]))
            ]
            self.zip.write(f"tracks/{name}.txt", ("\n".join(lines) + "\n").encode())
            self.counts["sequences"] += 1

    def _manifest(self) -> dict[str, Any]:
        manifest = self._manifest_base()
        if self.tracks:
            manifest["layout"]["tracks/<sequence>.txt"] = (
                "frames of a sequence only: MOT-style rows (frame, track id, box left, top (1-based), width, height, "
                "1, -1, -1, -1) per masked target; the same track id is the COCO annotation's track_id, and the "
                "image's sequence and frame_index are beside it"
            )
        return manifest

    def _manifest_base(self) -> dict[str, Any]:
        return {
            "format": "irlabel-dataset",
            "format_version": FORMAT_VERSION,
            "project": {"id": self.job.project_id, "name": self.job.project.name},
            "job": self.job.pk,
            "exported_by": self.job.created_by.username if self.job.created_by else None,
            "options": self.job.payload,
            "counts": dict(sorted(self.counts.items())),
            "layout": {
                "images/": "originals, byte for byte (every exported frame)",
                "masks/": "binary PNG (0/255), the union of the frame's targets, only for complete frames",
                "points/<id>.json": "every target's point (x, y) and its mask's state; (0, 0) is the centre of the "
                "top-left pixel",
                "points/centroid/": "one 255 pixel per target at the floor of its mask's centroid (LESPS)",
                "points/coarse/": "one 255 pixel per target at its clicked point, rounded",
                "instances/": "16-bit label ids of the targets of complete frames (points/<id>.json 'label')",
                "annotations/instances.json": "COCO instance segmentation: one annotation per target with a mask (RLE, "
                "its state in attributes, the point as a keypoint); targets without a mask are listed in their "
                "image's unmasked_points, never as an empty mask; image 'complete' as below",
                "splits/": "the complete frames, one id per line",
                "unconfirmed/": "the other frames, one id per line: left out of masks/, instances/ and splits/",
                "SHA256SUMS": "sha256 of every other file (sha256sum -c)",
            },
            "complete_frames": COMPLETE_RULE,
            "mask_sources": dict(self.generators),
            "model_versions": [self.models[k] for k in sorted(self.models)],
            "confirmed_by": {who: dict(c) for who, c in sorted(self.confirmers.items())},
            "checksums": "SHA256SUMS",
        }


def _complete(image: Image, rows: list, confirmed: list) -> bool:
    """COMPLETE_RULE: a frame's masks are the truth to train on only when every target's mask is confirmed, and an
    empty frame only when someone confirmed it empty; anything else written as a mask would teach "no target"."""
    if rows:
        return len(confirmed) == len(rows)
    return image.status == ImageStatus.CONFIRMED


def _centroid(raster: np.ndarray, bbox: list[int]) -> tuple[float, float]:
    """centroid_point on the mask's bounding box only (a full-frame scan costs milliseconds at 512x512)."""
    x, y, w, h = (int(v) for v in bbox) if len(bbox) == 4 else (0, 0, raster.shape[1], raster.shape[0])
    cx, cy = centroid_point(raster[y : y + h, x : x + w])
    return cx + x, cy + y


def _confirmer(mask: Any) -> str:
    return mask.confirmed_by.username if mask.confirmed_by else "(unknown)"


def _clamp(value: int, size: int) -> int:
    return min(max(value, 0), size - 1)


def _attributes(target: Target, mask: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "point": [target.x, target.y],
        "target_version": target.version,
        "created_by": target.created_by.username if target.created_by else None,
    }
    if mask is None:
        return {**attributes, "state": None}
    return {
        **attributes,
        "state": mask.state,
        "source": mask.source,
        "mask_version": mask.version,
        "model_version": mask.model_version.number if mask.model_version_id else None,
        "generator": (mask.provenance or {}).get("generator"),
        "warnings": mask.warnings,
        "confirmed_by": mask.confirmed_by.username if mask.confirmed_by else None,
        "confirmed_at": mask.confirmed_at.isoformat() if mask.confirmed_at else None,
    }


def _finish_message(done: int, manifest: dict[str, Any]) -> str:
    """What the dashboard's job list says: how many frames are left out of masks/ and splits/ and where they are."""
    left_out = manifest["counts"].get("frames_unconfirmed", 0)
    if not left_out:
        return f"{done} images exported"
    return (
        f"{done} images exported; {left_out} not fully confirmed (targets without a confirmed mask, or never "
        "confirmed) are left out of masks/, instances/ and splits/ and listed in unconfirmed/ (COCO has their masks "
        "with their state)"
    )


def dataset_export(*, job_id: int) -> None:
    """Run by the worker: write the zip to a temporary name, then move it into place (a rerun overwrites it)."""
    job = Job.objects.select_related("project", "created_by").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    final = Path(settings.MEDIA_ROOT) / export_path(job)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_suffix(".zip.part")
    for leftover in _leftovers(final.parent, job.pk):  # a killed earlier attempt's files: this run rewrites them
        _remove(leftover)
    queryset = _images(job)
    total = queryset.count()
    job = job_update_progress(job=job, done=0, total=total, message="exporting")
    started, last, done = time.monotonic(), 0.0, 0
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".export-{job.pk}-") as tmp_dir:
        tmp = Path(tmp_dir)
        sums = open(tmp / "SHA256SUMS", "w")  # noqa: SIM115 - closed by finish()
        zipf = ZipWriter(partial, sums)
        export = _Export(job, zipf, tmp)
        try:
            for chunk in _chunks(queryset):
                for image in chunk:
                    export.add(image)
                    done += 1
                if time.monotonic() - last > 0.5:
                    last = time.monotonic()
                    job = job_update_progress(job=job, done=done, total=total, message=f"{done} of {total} images")
                    if job.status in JOB_FINISHED:
                        return  # cancelled
            manifest = export.finish(tmp / "SHA256SUMS")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            export.close()
            zipf.zip.close()
            sums.close()
            if job.status in JOB_FINISHED:
                partial.unlink(missing_ok=True)
    os.replace(partial, final)
    seconds = time.monotonic() - started
    job_finish(
        job=job,
        message=_finish_message(done, manifest),
        result={
            "path": export_path(job),
            "size": final.stat().st_size,
            "counts": manifest["counts"],
            "seconds": round(seconds, 2),
        },
    )
