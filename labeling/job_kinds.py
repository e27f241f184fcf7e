"""Every kind of background work in one table: its Celery task, queue, time limits and what users call it.

Celery's routing (`route_task`, named in settings), the task decorators (labeling.tasks.base), dispatch and the
orphan sweep (services.jobs, .job_sweep, .broker) all read this table, so a new kind of job is one row here, its
`JobKind` choice and its task function. Queues: `interactive` (a click's masks, seconds), `loop` (the learning
loop's quick work and beat's checks), `train` (fine-tuning, one at a time), `batch` (everything long).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labeling.choices import JobKind


@dataclass(frozen=True)
class TaskSpec:
    task: str  # the Celery task's name: services send by name and never import tasks
    queue: str
    soft_time_limit: int  # seconds; each queue's broker visibility timeout outlasts its tasks' hard limits
    time_limit: int
    max_retries: int = 3
    work: str = ""  # what a message to users calls the work ("Mask generation is unavailable: ...")
    chunked: bool = False  # one message per chunk of payload.image_ids (services.chunked_jobs)


_EXPORT_LIMITS = {"soft_time_limit": 3 * 3600, "time_limit": 3 * 3600 + 300}

JOBS: dict[str, TaskSpec] = {
    JobKind.GENERATE: TaskSpec("labeling.tasks.image_generate", "interactive", 30, 60, work="Mask generation"),
    JobKind.PRELABEL: TaskSpec("labeling.tasks.project_prelabel", "batch", 600, 660, work="Pre-labeling", chunked=True),
    # The soft limit covers the largest project time budget (3000 s) plus the shadow scoring that follows.
    JobKind.TRAIN: TaskSpec("labeling.tasks.model_train", "train", 3600, 3900, max_retries=2),
    JobKind.IMPORT: TaskSpec("labeling.tasks.dataset_import", "batch", **_EXPORT_LIMITS),
    JobKind.EXPORT: TaskSpec("labeling.tasks.dataset_export", "batch", **_EXPORT_LIMITS),
    JobKind.CALIBRATE: TaskSpec("labeling.tasks.project_calibrate", "loop", 600, 660, work="Calibration"),
    JobKind.SCORE: TaskSpec("labeling.tasks.frame_score", "loop", 300, 360, work="Scoring for the learning loop"),
    JobKind.DETECT: TaskSpec(
        "labeling.tasks.suggestions_detect", "batch", 600, 660, work="Proposing targets", chunked=True
    ),
    JobKind.RANK: TaskSpec("labeling.tasks.frames_rank", "batch", 600, 660, work="Ranking frames", chunked=True),
}

# Beat's periodic tasks: no Job of their own (the next tick runs them again).
PERIODIC: dict[str, TaskSpec] = {
    "projects_loop_check": TaskSpec("labeling.tasks.projects_loop_check", "loop", 600, 660),
    "jobs_sweep": TaskSpec("labeling.tasks.jobs_sweep", "loop", 120, 180),
}

_BY_TASK = {spec.task: spec for spec in (*JOBS.values(), *PERIODIC.values())}
QUEUES = tuple(sorted({spec.queue for spec in _BY_TASK.values()}))  # batch among them: settings' default queue


def job_spec(kind: str) -> TaskSpec:
    return JOBS[JobKind(kind)]


def task_spec(task_name: str) -> TaskSpec:
    """The row of a task by its Celery name (KeyError for a task this table does not know)."""
    return _BY_TASK[task_name]


def job_task_names() -> set[str]:
    return {spec.task for spec in JOBS.values()}


def route_task(name: str, args: Any = None, kwargs: Any = None, options: Any = None, **_: Any) -> dict | None:
    """Celery router (settings.CELERY_TASK_ROUTES): a known task goes to its queue, anything else to the default."""
    spec = _BY_TASK.get(name)
    return {"queue": spec.queue} if spec is not None else None
