"""Fine-tuning runs of the learning loop (fine-tune -> atomic checkpoint -> candidate in shadow), and promotion,
rollback and retirement by hand. When a run is due is decided in labeling.services.loop; whether its result serves,
in labeling.services.shadow (on frames confirmed after its data were taken).

Worker faults: a training whose worker dies is redelivered (acks_late) and runs again from the start into the
same ModelVersion row (a rerun overwrites, never duplicates); after MAX_TRAIN_ATTEMPTS starts the job fails.
The checkpoint is written to a temporary file and renamed into place only when training has finished, and a
version serves only once promoted, so a half-written checkpoint is never served.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labeling import ml_adapter
from labeling.choices import JOB_FINISHED, GeneratorKind, ImageStatus, JobKind, JobStatus, ModelStatus
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Job, ModelVersion, Project
from labeling.permissions import MANAGE, require_role
from labeling.services.audit import audit_log
from labeling.services.jobs import job_create, job_enqueue, job_finish, job_update_progress
from labeling.services.loop_data import ids_hash, loop_samples
from labeling.services.projects import project_settings
from labeling.services.serving import base_weights, checkpoint_path, serving_model

MAX_TRAIN_ATTEMPTS = 3  # starts of one training job (worker lost / transient error) before it fails
MAX_TRAIN_FRAMES = 1000  # newest confirmed frames a run trains on (all are held in memory by the sampler)
CURVE_POINTS = 200  # loss points kept on the version for the UI (evaluations are all kept)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


@functools.cache
def code_revision() -> str:
    """The code's git revision (EDGSP_CODE_REVISION wins, for images built without .git)."""
    if os.environ.get("EDGSP_CODE_REVISION"):
        return os.environ["EDGSP_CODE_REVISION"][:64]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        return out.stdout.strip()[:64] or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def version_number_next(project: Project) -> int:
    """The next version number of the project (call with the project row locked)."""
    return (ModelVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1


@transaction.atomic
def model_train_request(*, project: Project, actor: Any, reason: str = "manual") -> Job:
    """A training Job for the project, enqueued on the `train` queue on commit; one at a time per project. The loop
    asks on its schedule (as the operator, actor None); a manager may ask any time."""
    require_role(actor, project, MANAGE, "start training")
    Project.objects.select_for_update().get(pk=project.pk)  # serialises concurrent requests for one project
    active = Job.objects.filter(project=project, kind=JobKind.TRAIN, status__in=ACTIVE).first()
    if active is not None:
        raise ConflictError(
            f"Training job {active.pk} is already {active.status} for this project.", extra={"job_id": active.pk}
        )
    if not Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).exists():
        raise ApplicationError("The project has no confirmed images to train on.", extra={"project_id": project.pk})
    n_frames = Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).count()
    job = job_create(project=project, kind=JobKind.TRAIN, actor=actor, payload={"reason": reason, "n_frames": n_frames})
    transaction.on_commit(lambda: job_enqueue(job))
    return job


# --- The training run ----------------------------------------------------------------------------------------


@transaction.atomic
def _start_attempt(job: Job) -> Job:
    locked = Job.objects.select_for_update().get(pk=job.pk)
    locked.attempts += 1
    locked.save(update_fields=["attempts"])
    return job_update_progress(job=locked, message=f"training started (attempt {locked.attempts})")


@transaction.atomic
def _version_for(
    job: Job, project: Project, ids: list[int], seed: int, prior: dict | None, snapshot: Any
) -> ModelVersion:
    """The job's version row: created on the first attempt, reused (reset) by a rerun."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    version = ModelVersion.objects.filter(pk=locked.payload.get("model_version_id")).first()
    champion = serving_model(project)
    parent = champion if champion is not None and champion.kind == GeneratorKind.EDGSP else None
    if version is None:
        Project.objects.select_for_update().get(pk=project.pk)
        version = ModelVersion(project=project, number=version_number_next(project), job=job)
    version.parent, version.status, version.kind, version.arch = (
        parent,
        ModelStatus.TRAINING,
        GeneratorKind.EDGSP,
        "edgsp",
    )
    version.params = {"prior": prior} if prior else {}
    version.trained_on = sorted(set(ids) | set(parent.trained_on if parent else []))
    version.snapshot_at = snapshot
    version.train_ids_hash, version.val_ids_hash = ids_hash(ids), ""
    version.n_train, version.n_val, version.seed, version.code_revision = len(ids), 0, seed, code_revision()
    version.metrics, version.curve, version.gate = {}, [], {}
    version.save()
    locked.payload = {**locked.payload, "model_version_id": version.pk}
    locked.save(update_fields=["payload"])
    return version


class _Progress:
    """The fit callback: job progress (elapsed of the budget) and the version's curve, written once a second;
    stops the run when the job was cancelled."""

    def __init__(self, job: Job, version: ModelVersion, budget_s: float):
        self.job, self.version, self.budget = job, version, budget_s
        self.losses: list[dict[str, float]] = []
        self.evals: list[dict[str, Any]] = []
        self.last_write = 0.0

    def __call__(self, record: dict[str, Any]) -> None:
        point = {k: float(record[k]) for k in ("step", "loss", "lr", "elapsed_s") if k in record}
        self.losses.append(point)
        if "selection" in record:
            sel = record["selection"]
            self.evals.append({"step": record["step"], **{k: float(sel[k]) for k in ("iou", "pd", "fat", "fa")}})
        if time.monotonic() - self.last_write >= 1.0 or "selection" in record:
            self.write(record)

    def curve(self) -> list[dict[str, Any]]:
        k = max(1, len(self.losses) // CURVE_POINTS)
        thinned = [dict(p, kind="loss") for p in self.losses[::k]]
        return thinned + [dict(e, kind="selection") for e in self.evals]

    def write(self, record: dict[str, Any]) -> None:
        self.last_write = time.monotonic()
        elapsed = float(record.get("elapsed_s", 0.0))
        self.job = job_update_progress(
            job=self.job,
            done=min(int(elapsed), int(self.budget)),
            total=int(self.budget),
            message=f"step {record['step']}, loss {record.get('loss', 0.0):.4f}, {elapsed:.0f} of {self.budget:.0f} s",
        )
        ModelVersion.objects.filter(pk=self.version.pk).update(curve=self.curve())
        if self.job.status == JobStatus.CANCELLED:
            raise ml_adapter.TrainingStopped("cancelled")


def _paths(version: ModelVersion, job: Job) -> tuple[str, Path, Path]:
    relative = f"models/{version.project_id}/v{version.number}-job{job.pk}.pt"
    final = Path(default_storage.path(relative))
    final.parent.mkdir(parents=True, exist_ok=True)
    return relative, final, final.with_name(f".{final.stem}.partial.pt")


def _init_checkpoint(project: Project) -> str | None:
    """Warm start from the serving EDGSP version, else the shipped base weights, else a new net."""
    serving = serving_model(project)
    if serving is not None and serving.kind == GeneratorKind.EDGSP and Path(checkpoint_path(serving)).is_file():
        return checkpoint_path(serving)
    shipped = base_weights()
    return str(shipped) if shipped else None


def run_budget(policy: dict[str, Any], n_frames: int) -> float:
    """Seconds for one fine-tune: a few frames need fewer steps than many (each is seen more often), and an early
    candidate that is ready sooner serves the team sooner: `seconds_per_frame` per frame, at least 60 s, at most
    `time_budget_s`."""
    cap = float(policy["time_budget_s"])
    return min(cap, max(min(60.0, cap), float(policy.get("seconds_per_frame", cap)) * n_frames))


def loop_prior(project: Project) -> dict[str, Any] | None:
    """The prior channel's settings for a fine-tune: the alpha of the serving generator when it was calibrated
    (a calibrated cold start, or EDGSP with a calibrated prior), else of the newest calibration; None: the
    checkpoint's own."""
    serving = serving_model(project)
    if serving is not None:
        params = serving.params or {}
        if serving.kind == GeneratorKind.COLDSTART and "alpha" in params:
            return {"alpha": float(params["alpha"])}
        if params.get("prior"):
            return dict(params["prior"])
    newest = ModelVersion.objects.filter(project=project, kind=GeneratorKind.COLDSTART).order_by("-pk").first()
    if newest is not None and "alpha" in (newest.params or {}):
        return {"alpha": float(newest.params["alpha"])}
    return None


def model_train(*, job_id: int) -> None:
    """Run by the `train` worker: fine-tune on every confirmed frame, write the checkpoint atomically, and put the
    result in shadow (it is judged on the frames confirmed after its data were taken, and serves only if it wins)."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    job = _start_attempt(job)
    project = job.project
    if job.attempts > MAX_TRAIN_ATTEMPTS:
        _fail(job, f"the training was interrupted {job.attempts - 1} times (worker lost or transient errors)")
        return
    policy = project_settings(project)["retrain"]
    snapshot = timezone.now()
    ids = list(
        Image.objects.filter(project=project, status=ImageStatus.CONFIRMED)
        .order_by("-first_confirmed_at", "-pk")
        .values_list("pk", flat=True)[:MAX_TRAIN_FRAMES]
    )
    if not ids:
        _fail(job, "no confirmed images to train on yet")
        return
    seed, prior = int(policy["seed"]), loop_prior(project)
    version = _version_for(job, project, ids, seed, prior, snapshot)
    budget = run_budget(policy, len(ids))
    relative, final, partial = _paths(version, job)
    progress = _Progress(job, version, budget)
    train = loop_samples(ids)
    if any(s.touching for s in train):  # the team lets touching targets touch: the version draws them so
        version.params = {**version.params, "gaps": False}
        version.save(update_fields=["params"])
    try:
        result = ml_adapter.train(
            [(s.image_id, s.pixels, s.mask, s.points) for s in train],
            init_checkpoint=_init_checkpoint(project),
            out_path=str(partial),
            time_budget_s=budget,
            seed=seed,
            device=django_settings.EDGSP_DEVICE,
            threads=django_settings.EDGSP_TORCH_THREADS,
            overrides=policy.get("train_overrides") or {},
            prior=prior,
            progress=progress,
        )
    except ml_adapter.TrainingStopped:
        _reject(version, "training cancelled", progress.curve())
        return
    except Exception as exc:
        _reject(version, f"training failed: {type(exc).__name__}: {exc}", progress.curve())
        raise
    finally:
        partial.with_suffix(".png").unlink(missing_ok=True)
    os.replace(partial, final)  # atomic: the checkpoint path only ever holds a finished file
    version.checkpoint, version.arch, version.curve = relative, result["arch"], progress.curve()
    version.status = ModelStatus.CANDIDATE
    version.metrics = {"steps": result["steps"], "chosen_step": result["chosen_step"], "n_frames": len(ids)}
    version.gate = {"reason": f"trained on {len(ids)} frames; in shadow", "decision": "wait"}
    version.save(update_fields=["checkpoint", "arch", "curve", "status", "metrics", "gate"])
    audit_log(
        actor=None,
        project=project,
        action="loop.train",
        obj=version,
        data={
            "n_frames": len(ids),
            "steps": result["steps"],
            "prior": prior,
            "gaps": version.params.get("gaps", True),
            "budget_s": budget,
        },
    )
    _shadow_start(job, version)


def _shadow_start(job: Job, version: ModelVersion) -> None:
    """Score the new candidate at once on the frames confirmed while it trained, then apply the rule."""
    from labeling.services.serving import generator_key
    from labeling.services.shadow import catch_up, loop_decide

    project = job.project
    job_update_progress(job=job, message="scoring on the frames confirmed since its data were taken")
    scored = catch_up(project, generator_key(version), version)
    decisions = loop_decide(project)
    version.refresh_from_db()
    job_finish(
        job=job,
        status=JobStatus.SUCCEEDED,
        message=f"v{version.number}: {version.gate.get('reason', '')}",
        result={"model_version_id": version.pk, "status": version.status, "scored": scored, "decisions": decisions},
    )


def _fail(job: Job, message: str) -> None:
    version = ModelVersion.objects.filter(pk=job.payload.get("model_version_id")).first()
    if version is not None and version.status == ModelStatus.TRAINING:
        _reject(version, message, version.curve)
    job_finish(job=job, status=JobStatus.FAILED, message=message)


def _reject(version: ModelVersion, reason: str, curve: list) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelStatus.REJECTED, gate={"promoted": False, "reason": reason}, curve=curve
    )
