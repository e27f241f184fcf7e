"""The learning loop's clock: what happens when a frame is confirmed, and when calibration and fine-tuning are due.

On every first confirmation a `loop` worker scores the frame (prequential record, shadow replays), applies the
promotion rule and starts whatever is due. Calibration is due at `retrain.calibrate_at` confirmed frames (1, 2,
5, 10, 15, 20, 30, ... then every `calibrate_every`), fine-tuning at `retrain.train_at` (3, 6, 10, 20, 40, 80, 160,
then every `train_every`): early and often while a few frames change a lot, then less often. Celery beat runs the
same check every few minutes, so a lost message or a worker that was down only delays the loop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from labeling.choices import JOB_FINISHED, GeneratorKind, ImageStatus, JobKind, JobStatus, ModelStatus
from labeling.exceptions import ConflictError
from labeling.models import Image, Job, ModelVersion, Project
from labeling.permissions import operator
from labeling.services.audit import audit_log
from labeling.services.calibration import MIN_CONFIRMED_IMAGES
from labeling.services.jobs import job_finish
from labeling.services.prequential import frame_iou, frame_score_request, frame_truth, record_shown
from labeling.services.projects import project_settings
from labeling.services.serving import base_weights, generator_key, serving_model
from labeling.services.shadow import catch_up, confirmed_count, frame_replay, live_generators, loop_decide

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def next_milestone(done: int, schedule: list[int], every: int) -> int:
    """The first milestone above `done`: the next entry of `schedule`, then steps of `every` after its last."""
    for milestone in sorted(int(m) for m in schedule):
        if milestone > done:
            return milestone
    last = max([int(m) for m in schedule] or [0])
    step = max(1, int(every))
    return last + step * ((max(done, last) - last) // step + 1)


def _last_job(project: Project, kind: str) -> Job | None:
    return Job.objects.filter(project=project, kind=kind).exclude(status=JobStatus.CANCELLED).order_by("-pk").first()


def loop_status(project: Project, now: Any = None) -> dict[str, Any]:
    """Where the project stands: confirmed frames, and the next calibration and fine-tuning milestones."""
    now = now or timezone.now()
    policy = project_settings(project)["retrain"]
    confirmed = confirmed_count(project)
    out: dict[str, Any] = {"confirmed": confirmed}
    for kind, name, schedule, every, minimum in (
        (JobKind.CALIBRATE, "calibration", policy["calibrate_at"], policy["calibrate_every"], MIN_CONFIRMED_IMAGES),
        (JobKind.TRAIN, "training", policy["train_at"], policy["train_every"], 1),
    ):
        last = _last_job(project, kind)
        done = int((last.payload or {}).get("n_frames", 0)) if last else 0
        milestone = max(minimum, next_milestone(done, schedule, every))
        active = last is not None and last.status in ACTIVE
        out[name] = {"next_at": milestone, "last_at": done if last else None, "active": active}
        out[name]["due"] = bool(policy["enabled"]) and confirmed >= milestone and not active
    last_train = _last_job(project, JobKind.TRAIN)
    interval = timedelta(minutes=float(policy["min_interval_minutes"]))
    if last_train is not None and now - last_train.created_at < interval:
        out["training"]["due"] = False
        out["training"]["waiting_for_interval"] = True
    return out


def loop_schedule(project: Project) -> list[Job]:
    """Start the calibration and the fine-tuning that are due (each one at a time per project), as the operator:
    the loop acts on its own schedule, for no one (actor None in the audit log)."""
    from labeling.services.calibration import project_calibration_request
    from labeling.services.training import model_train_request

    started = []
    status = loop_status(project)
    ensure_base_candidate(project)
    with operator():
        if status["calibration"]["due"]:
            try:
                started.append(project_calibration_request(project=project, actor=None))
            except ConflictError:
                pass  # one started meanwhile
        if status["training"]["due"]:
            try:
                started.append(model_train_request(project=project, actor=None, reason="scheduled"))
            except ConflictError:
                pass
    return started


@transaction.atomic
def ensure_base_candidate(project: Project) -> ModelVersion | None:
    """From the first confirmed frame on, the base weights compete in shadow against the project's settings (once
    per project, unless `retrain.base_weights_candidate` is off or the project already has an EDGSP version)."""
    policy = project_settings(project)["retrain"]
    base = base_weights()
    if not policy.get("base_weights_candidate", True) or base is None or not policy["enabled"]:
        return None
    Project.objects.select_for_update().get(pk=project.pk)
    if ModelVersion.objects.filter(project=project, kind=GeneratorKind.EDGSP).exists():
        return None
    from labeling.services.training import version_number_next

    version = ModelVersion.objects.create(
        project=project,
        number=version_number_next(project),
        kind=GeneratorKind.EDGSP,
        arch="EDGSP base weights",
        checkpoint=str(base),
        status=ModelStatus.CANDIDATE,
        snapshot_at=timezone.now(),
        gate={"reason": "the shipped base weights, in shadow from the first frames", "decision": "wait"},
    )
    audit_log(actor=None, project=project, action="loop.candidate", obj=version, data={"checkpoint": base.name})
    return version


def frame_score(*, job_id: int) -> None:
    """Run by a `loop` worker when a frame is first confirmed: its prequential record, every live generator's
    replay, the promotion rule, and the schedule. Idempotent: a rerun finds the records and adds nothing."""
    job = Job.objects.select_related("project", "image").filter(pk=job_id).first()
    if job is None or job.status in JOB_FINISHED:
        return
    image, project = job.image, job.project
    if image is None or image.status != ImageStatus.CONFIRMED:
        job_finish(job=job, message="the frame is no longer confirmed; not scored")
        return
    ensure_base_candidate(project)
    truth = frame_truth(image)
    shown = record_shown(truth)
    replays = frame_replay(project, truth)
    decisions = loop_decide(project)
    started = loop_schedule(project)
    shown_iou = frame_iou(shown) if shown is not None else None
    result = {
        "image_id": image.pk,
        "shown": {"generator": shown.generator, "key": shown.generator_key, "iou": shown_iou} if shown else None,
        "replays": replays,
        "decisions": decisions,
        "started": [{"job": j.pk, "kind": j.kind} for j in started],
    }
    audit_log(actor=None, project=project, action="loop.score", obj=image, data=result)
    text = f"shown IoU {shown_iou:.1f} ({shown.generator})" if shown_iou is not None else "no shown masks to score"
    for decision in decisions:
        if decision["action"] in ("promote", "rollback", "reject"):
            text += f"; {decision['reason']}"
    job_finish(job=job, message=text, result=result)


def projects_loop_check(limit: int = 200) -> dict[str, int]:
    """Run by Celery beat: for every project with confirmed frames, score frames whose scoring job was lost, let
    every live generator catch up, apply the rule and start what is due."""
    counts = {"projects": 0, "scored": 0, "started": 0}
    projects = Project.objects.filter(images__status=ImageStatus.CONFIRMED).distinct()
    for project in projects.iterator():
        counts["projects"] += 1
        counts["scored"] += _score_missed(project, limit)
        for key, version in live_generators(project):
            counts["scored"] += catch_up(project, key, version, limit)
        loop_decide(project)
        counts["started"] += len(loop_schedule(project))
    return counts


def _score_missed(project: Project, limit: int) -> int:
    """Frames first confirmed over a minute ago whose scoring job never ran or failed (e.g. the broker was down),
    and frames that arrived confirmed by an import: ask for their scoring (idempotent)."""
    cutoff = timezone.now() - timedelta(minutes=1)
    handled = Job.objects.filter(project=project, kind=JobKind.SCORE, status__in=(*ACTIVE, JobStatus.SUCCEEDED)).values(
        "image_id"
    )
    missed = (
        Image.objects.filter(project=project, status=ImageStatus.CONFIRMED, first_confirmed_at__lt=cutoff)
        .exclude(pk__in=handled)
        .order_by("first_confirmed_at")[:limit]
    )
    n = 0
    for image in missed:
        with transaction.atomic():
            frame_score_request(image=image)
        n += 1
    return n


def serving_key(project: Project) -> str:
    return generator_key(serving_model(project))
