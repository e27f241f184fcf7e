"""Datasets in and out: safe archive reading, layouts (SIRST, COCO, points), import and export jobs."""

from labeling.services.datasets.exports import (
    dataset_export,
    dataset_export_request,
    export_file,
    export_path,
)
from labeling.services.datasets.imports import (
    dataset_import,
    dataset_import_folder_request,
    dataset_import_request,
)

__all__ = [
    "dataset_export",
    "dataset_export_request",
    "dataset_import",
    "dataset_import_folder_request",
    "dataset_import_request",
    "export_file",
    "export_path",
]
