"""Building archives and running import/export jobs in-process for the dataset tests."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling import storage
from labeling.models import Job
from labeling.services.datasets import (
    dataset_export,
    dataset_export_request,
    dataset_import,
    dataset_import_request,
    export_file,
)
from tests.factories import gradient, png_bytes


def zip_bytes(entries: dict[str, bytes] | list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in items:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def symlink_entry(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def frame(seed: int, height: int = 16, width: int = 24, dtype: type = np.uint8) -> bytes:
    return png_bytes(gradient(height, width, seed=seed, dtype=dtype))


def mask_png(raster: np.ndarray) -> bytes:
    return storage.mask_png_encode(raster)


def raster(height: int, width: int, *pixels: tuple[int, int]) -> np.ndarray:
    """A bool mask with the given (row, col) pixels set."""
    out = np.zeros((height, width), bool)
    for row, col in pixels:
        out[row, col] = True
    return out


def run_import(project, actor, data: bytes, *, confirm: bool = False, split: str | None = None) -> Job:
    upload = SimpleUploadedFile("dataset.zip", data, "application/zip")
    job = dataset_import_request(
        project=project, upload=upload, actor=actor, confirm=confirm, split=split, enqueue=False
    )
    dataset_import(job_id=job.pk)
    job.refresh_from_db()
    return job


def run_export(project, actor, **options) -> tuple[Job, zipfile.ZipFile]:
    job = dataset_export_request(project=project, actor=actor, enqueue=False, **options)
    dataset_export(job_id=job.pk)
    job.refresh_from_db()
    return job, zipfile.ZipFile(export_file(job, actor=actor))


def messages(job: Job) -> str:
    return "\n".join(error["message"] for error in job.errors)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}
