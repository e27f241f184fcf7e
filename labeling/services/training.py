"""Retraining: when a project is due, the training run (fine-tune -> atomic checkpoint -> gate), promotion, rollback.

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
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labeling import ml_adapter
from labeling.choices import JOB_FINISHED, ImageStatus, JobKind, JobStatus, ModelStatus, Split
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Job, ModelVersion, Project
from labeling.permissions import MANAGE, require_role
from labeling.services.audit import audit_log
from labeling.services.generation import generator_spec, serving_model
from labeling.services.jobs import job_create, job_enqueue, job_finish, job_update_progress
from labeling.services.projects import project_settings
from labeling.services.validation import (
    MIN_VAL_IMAGES,
    confirmed_ids,
    gate_compare,
    gate_decide,
    ids_hash,
    images_assign_loop_split,
    loop_samples,
)

MAX_TRAIN_ATTEMPTS = 3  # starts of one training job (worker lost / transient error) before it fails
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


# --- When to train -------------------------------------------------------------------------------------------


def project_retrain_status(project: Project, now: Any = None) -> dict[str, Any]:
    """Is the project due: enough new confirmed images since its last training, and its minimum interval passed?"""
    now = now or timezone.now()
    policy = project_settings(project)["retrain"]
    confirmed = Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).count()
    last = ModelVersion.objects.filter(project=project).exclude(status=ModelStatus.TRAINING).order_by("-pk").first()
    new = confirmed - ((last.n_train + last.n_val) if last else 0)
    last_job = Job.objects.filter(project=project, kind=JobKind.TRAIN).order_by("-pk").first()
    interval = timedelta(minutes=float(policy["min_interval_minutes"]))
    waited = last_job is None or now - last_job.created_at >= interval
    active = last_job is not None and last_job.status in ACTIVE
    due = bool(policy["enabled"]) and new >= int(policy["min_new_confirmed"]) and waited and not active
    return {"due": due, "new_confirmed": new, "interval_passed": waited, "training_active": active}


def projects_retrain_check() -> list[Job]:
    """Run by Celery beat: start training for every project that is due."""
    jobs = []
    for project in Project.objects.all().iterator():
        if project_retrain_status(project)["due"]:
            try:
                jobs.append(model_train_request(project=project, actor=None, reason="scheduled"))
            except ConflictError:
                continue  # someone started one meanwhile
    return jobs


@transaction.atomic
def model_train_request(*, project: Project, actor: Any, reason: str = "manual") -> Job:
    """A training Job for the project, enqueued on the `train` queue on commit; one at a time per project."""
    if actor is not None:
        require_role(actor, project, MANAGE, "start training")
    Project.objects.select_for_update().get(pk=project.pk)  # serialises concurrent requests for one project
    active = Job.objects.filter(project=project, kind=JobKind.TRAIN, status__in=ACTIVE).first()
    if active is not None:
        raise ConflictError(
            f"Training job {active.pk} is already {active.status} for this project.", extra={"job_id": active.pk}
        )
    if not Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).exists():
        raise ApplicationError("The project has no confirmed images to train on.", extra={"project_id": project.pk})
    job = job_create(project=project, kind=JobKind.TRAIN, actor=actor, payload={"reason": reason})
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
def _version_for(job: Job, project: Project, train_ids: list[int], val_ids: list[int], seed: int) -> ModelVersion:
    """The job's version row: created on the first attempt, reused (reset) by a rerun."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    version = ModelVersion.objects.filter(pk=locked.payload.get("model_version_id")).first()
    parent = serving_model(project)
    if version is None:
        Project.objects.select_for_update().get(pk=project.pk)
        number = (ModelVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        version = ModelVersion(project=project, number=number, job=job)
    version.parent, version.status, version.arch = parent, ModelStatus.TRAINING, "edgsp"
    version.train_ids_hash, version.val_ids_hash = ids_hash(train_ids), ids_hash(val_ids)
    version.n_train, version.n_val, version.seed, version.code_revision = (
        len(train_ids),
        len(val_ids),
        seed,
        code_revision(),
    )
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


def _checkpoint_path(version: ModelVersion) -> str:
    return version.checkpoint if Path(version.checkpoint).is_absolute() else default_storage.path(version.checkpoint)


def _init_checkpoint(project: Project) -> str | None:
    """Fine-tune from the serving version, else the shipped base weights, else train a new net."""
    serving = serving_model(project)
    if serving is not None and Path(_checkpoint_path(serving)).is_file():
        return _checkpoint_path(serving)
    shipped = ml_adapter.shipped_weights()
    return str(shipped) if shipped else None


def model_train(*, job_id: int) -> None:
    """Run by the `train` worker: fine-tune on the frozen train split, write the checkpoint atomically, gate it."""
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    job = _start_attempt(job)
    project = job.project
    if job.attempts > MAX_TRAIN_ATTEMPTS:
        _fail(job, f"the training was interrupted {job.attempts - 1} times (worker lost or transient errors)")
        return
    policy = project_settings(project)["retrain"]
    images_assign_loop_split(project=project)
    ids = confirmed_ids(project)
    if not ids[Split.TRAIN]:
        _fail(job, "no confirmed images in the training split yet")
        return
    seed = int(policy["seed"])
    version = _version_for(job, project, ids[Split.TRAIN], ids[Split.VAL], seed)
    budget = float(policy["time_budget_s"])
    relative, final, partial = _paths(version, job)
    progress = _Progress(job, version, budget)
    train = loop_samples(ids[Split.TRAIN])
    try:
        result = ml_adapter.train(
            [(s.image_id, s.pixels, s.mask) for s in train],
            init_checkpoint=_init_checkpoint(project),
            out_path=str(partial),
            time_budget_s=budget,
            seed=seed,
            device=django_settings.EDGSP_DEVICE,
            threads=django_settings.EDGSP_TORCH_THREADS,
            overrides=policy.get("train_overrides") or {},
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
    version.metrics = {"selection": result["selection"], "steps": result["steps"], "chosen_step": result["chosen_step"]}
    version.save(update_fields=["checkpoint", "arch", "curve", "status", "metrics"])
    _gate(job, version, ids[Split.VAL], policy)


def _fail(job: Job, message: str) -> None:
    version = ModelVersion.objects.filter(pk=job.payload.get("model_version_id")).first()
    if version is not None and version.status == ModelStatus.TRAINING:
        _reject(version, message, version.curve)
    job_finish(job=job, status=JobStatus.FAILED, message=message)


def _reject(version: ModelVersion, reason: str, curve: list) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelStatus.REJECTED, gate={"promoted": False, "reason": reason}, curve=curve
    )


def _gate(job: Job, version: ModelVersion, val_ids: list[int], policy: dict[str, Any]) -> None:
    """Score the candidate and the model in service (cold start when none) on the whole validation split."""
    project = job.project
    job_update_progress(job=job, message=f"scoring on {len(val_ids)} validation images")
    serving = serving_model(project)
    serving_spec = generator_spec(project)
    candidate_spec = ml_adapter.GeneratorSpec(
        method=ml_adapter.EDGSP,
        checkpoint=_checkpoint_path(version),
        model_version_id=version.pk,
        device=django_settings.EDGSP_DEVICE,
    )
    seen = ml_adapter.shipped_weights_seen()  # every version descends from the shipped weights when they exist
    leaked = set(Image.objects.filter(pk__in=val_ids, content_hash__in=seen).values_list("pk", flat=True))
    val = loop_samples([pk for pk in val_ids if pk not in leaked])
    comparison = gate_compare(candidate_spec, serving_spec, val, float(policy["gate_confidence"]))
    pd_tol, fat_tol = float(policy["pd_tolerance"]), float(policy["fat_tolerance"])
    promote, reason = gate_decide(comparison, len(val), pd_tol, fat_tol) if val else (False, "")
    if not val:
        reason = "no validation images yet; not promoted"
    if leaked:
        reason += f" ({len(leaked)} validation images left out: the shipped base weights were trained on them)"
    gate = {
        "promoted": promote,
        "reason": reason,
        "n_val": len(val),
        "n_val_seen_by_base": len(leaked),
        "candidate": comparison.get("candidate", {}),
        "serving": comparison.get("serving", {}),
        "iou_gain": comparison.get("iou_gain", {}),
        "confidence": comparison.get("confidence"),
        "serving_version": serving.pk if serving else None,
        "serving_generator": serving_spec.method,
        "tolerance": {"pd": pd_tol, "fat": fat_tol},
    }
    version = _gate_apply(version, serving, gate)
    job_finish(
        job=job,
        status=JobStatus.SUCCEEDED,
        message=f"v{version.number}: {version.gate['reason']}",
        result={"model_version_id": version.pk, "status": version.status, "gate": version.gate},
    )
    if version.status == ModelStatus.PROMOTED and policy.get("prelabel_on_promote"):
        from labeling.services.prelabel import project_prelabel_request

        project_prelabel_request(project=project, actor=None)


@transaction.atomic
def _gate_apply(version: ModelVersion, compared: ModelVersion | None, gate: dict[str, Any]) -> ModelVersion:
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    Project.objects.select_for_update().get(pk=version.project_id)
    now_serving = serving_model(version.project)
    if gate["promoted"] and getattr(now_serving, "pk", None) != getattr(compared, "pk", None):
        gate = {**gate, "promoted": False, "reason": "the serving model changed during scoring; not promoted"}
    version.gate = gate
    version.metrics = {**version.metrics, "val": gate["candidate"], "n_val": gate["n_val"]}
    if gate["promoted"]:
        _serve(version)
    else:
        too_small = gate["n_val"] < MIN_VAL_IMAGES  # undecided: stays a candidate a manager may promote
        version.status = ModelStatus.CANDIDATE if too_small else ModelStatus.REJECTED
    version.save()
    audit_log(
        actor=None,
        project=version.project_id,
        action="model.promote" if gate["promoted"] else "model.gate",
        obj=version,
        data={"reason": gate["reason"], "candidate": gate["candidate"], "serving": gate["serving"]},
    )
    return version


def _serve(version: ModelVersion) -> None:
    """Make `version` the one in service (the previous one retires); workers load it on their next request."""
    ModelVersion.objects.filter(project_id=version.project_id, status=ModelStatus.PROMOTED).exclude(
        pk=version.pk
    ).update(status=ModelStatus.RETIRED)
    version.status, version.promoted_at = ModelStatus.PROMOTED, timezone.now()


# --- By hand: promote (or roll back to) a version, retire one ----------------------------------------------


@transaction.atomic
def model_version_promote(*, version: ModelVersion, actor: Any) -> ModelVersion:
    """Serve this version now (a rollback to any earlier version is the same action); 400 when it has no
    finished checkpoint."""
    if version.project_id is None:
        raise ApplicationError("A shipped base model cannot be promoted in a project.", extra={"id": version.pk})
    require_role(actor, version.project, MANAGE, "promote a model version")
    Project.objects.select_for_update().get(pk=version.project_id)
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelStatus.TRAINING or not version.checkpoint:
        raise ApplicationError(f"Model version {version.number} has not finished training.", extra={"id": version.pk})
    if not Path(_checkpoint_path(version)).is_file():
        raise ApplicationError(
            f"The checkpoint of model version {version.number} is missing.", extra={"checkpoint": version.checkpoint}
        )
    previous = serving_model(version.project)
    _serve(version)
    version.save(update_fields=["status", "promoted_at"])
    audit_log(
        actor=actor,
        project=version.project_id,
        action="model.promote",
        obj=version,
        data={"manual": True, "previous": getattr(previous, "pk", None)},
    )
    return version


@transaction.atomic
def model_version_retire(*, version: ModelVersion, actor: Any) -> ModelVersion:
    """Take a version out of service (when it was serving, the cold start serves until another is promoted)."""
    if version.project_id is None:
        raise ApplicationError("A shipped base model cannot be retired from a project.", extra={"id": version.pk})
    require_role(actor, version.project, MANAGE, "retire a model version")
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelStatus.TRAINING:
        raise ConflictError(f"Model version {version.number} is still training.", extra={"id": version.pk})
    was = version.status
    version.status = ModelStatus.RETIRED
    version.save(update_fields=["status"])
    audit_log(actor=actor, project=version.project_id, action="model.retire", obj=version, data={"was": was})
    return version
