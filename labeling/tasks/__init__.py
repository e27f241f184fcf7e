"""Celery tasks, one module per area; each task has an explicit name (`labeling.tasks.<name>`) that services
enqueue by (services never import tasks) and that CELERY_TASK_ROUTES routes to its queue."""

from labeling.tasks.calibration import project_calibrate
from labeling.tasks.datasets import dataset_export, dataset_import
from labeling.tasks.generation import image_generate
from labeling.tasks.jobs import jobs_sweep
from labeling.tasks.loop import frame_score, projects_loop_check
from labeling.tasks.prelabel import project_prelabel
from labeling.tasks.ranking import frames_rank
from labeling.tasks.suggestions import suggestions_detect
from labeling.tasks.training import model_train

__all__ = [
    "dataset_export",
    "dataset_import",
    "frame_score",
    "frames_rank",
    "image_generate",
    "jobs_sweep",
    "model_train",
    "project_calibrate",
    "project_prelabel",
    "projects_loop_check",
    "suggestions_detect",
]
