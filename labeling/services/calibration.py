"""Per-project cold-start calibration: choose alpha (and GrabCut on/off) on the project's confirmed masks, decide
whether the shipped base weights beat the calibrated cold start there, and offer to regenerate unreviewed masks."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from labeling import ml_adapter
from labeling.choices import ImageStatus, JobKind, JobStatus, MaskState
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Project
from labeling.permissions import MANAGE, require_role
from labeling.services.audit import audit_log
from labeling.services.jobs import job_create, job_enqueue, job_finish, job_update_progress
from labeling.services.prelabel import project_prelabel_request
from labeling.services.projects import project_settings
from labeling.services.validation import loop_samples

MIN_CONFIRMED_IMAGES = 15  # below this, a choice would follow a handful of targets (cold-start.md §3)
MAX_SAMPLES = 400  # calibration reruns the generator ~18 times per image: bound the work, newest images first
# The base weights replace the calibrated cold start only when clearly better on the project's own labels.
BASE_WEIGHTS_MARGIN = 1.0  # IoU points


def calibration_status(project: Project) -> dict[str, Any]:
    """What the project's calibration is now, and whether a (new) one is due."""
    confirmed = Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).count()
    current = project_settings(project).get("calibration") or {}
    due = confirmed >= MIN_CONFIRMED_IMAGES and confirmed >= 2 * int(current.get("n_images", 0) or 0)
    return {"confirmed_images": confirmed, "minimum": MIN_CONFIRMED_IMAGES, "due": due, "current": current or None}


def project_calibration_request(*, project: Project, actor: Any, regenerate: bool = False) -> Job:
    """A calibration Job on the `batch` queue; `regenerate` then re-makes the still-unreviewed predicted masks."""
    require_role(actor, project, MANAGE, "calibrate the generator")
    confirmed = Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).count()
    if confirmed < MIN_CONFIRMED_IMAGES:
        raise ApplicationError(
            f"Calibration needs at least {MIN_CONFIRMED_IMAGES} confirmed images; this project has {confirmed}.",
            extra={"confirmed_images": confirmed, "minimum": MIN_CONFIRMED_IMAGES},
        )
    with transaction.atomic():
        job = job_create(
            project=project, kind=JobKind.CALIBRATE, actor=actor, payload={"regenerate": bool(regenerate)}, total=3
        )
        transaction.on_commit(lambda: job_enqueue(job))
    return job


def _base_weights_figures(loop: list, calibrated_spec: ml_adapter.GeneratorSpec) -> dict[str, Any]:
    """Base weights vs the calibrated cold start, on the confirmed frames the base weights never saw.

    On frames they were trained on (e.g. a project importing the public dataset they were made from) they
    would win by memory, not by skill.
    """
    base = ml_adapter.shipped_weights()
    if base is None:
        return {}
    seen = ml_adapter.shipped_weights_seen()
    hashes = dict(Image.objects.filter(pk__in=[s.image_id for s in loop]).values_list("pk", "content_hash"))
    fresh = [(s.pixels, s.points, s.mask) for s in loop if hashes.get(s.image_id) not in seen]
    out: dict[str, Any] = {"base_weights_seen_images": len(loop) - len(fresh)}
    if not fresh:
        return out
    out["calibrated_unseen"] = ml_adapter.score(calibrated_spec, fresh)
    base_spec = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=str(base))
    out["base_weights"] = ml_adapter.score(base_spec, fresh)
    return out


def project_calibrate(*, job_id: int) -> None:
    """Run by a batch worker: calibrate on the confirmed images, store the choice and its figures."""
    job = Job.objects.select_related("project", "created_by").filter(pk=job_id).first()
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
        return
    project = job.project
    ids = list(
        Image.objects.filter(project=project, status=ImageStatus.CONFIRMED)
        .order_by("-pk")
        .values_list("pk", flat=True)[:MAX_SAMPLES]
    )
    loop = [s for s in loop_samples(ids) if len(s.points)]
    samples = [(s.pixels, s.points, s.mask) for s in loop]
    job_update_progress(job=job, done=1, message=f"calibrating on {len(samples)} confirmed images")
    chosen = ml_adapter.calibrate_alpha(samples)
    default_spec = ml_adapter.GeneratorSpec()
    calibrated_spec = ml_adapter.GeneratorSpec(alpha=chosen["alpha"], use_grabcut=chosen["use_grabcut"])
    figures = {
        "default": ml_adapter.score(default_spec, samples),
        "calibrated": ml_adapter.score(calibrated_spec, samples),
    }
    job_update_progress(job=job, done=2, message="scoring the base weights")
    figures.update(_base_weights_figures(loop, calibrated_spec))
    use_base = "base_weights" in figures and (
        figures["base_weights"]["iou"] >= figures["calibrated_unseen"]["iou"] + BASE_WEIGHTS_MARGIN
        and figures["base_weights"]["pd"] >= figures["calibrated_unseen"]["pd"]
        and figures["base_weights"]["fat"] <= figures["calibrated_unseen"]["fat"]
    )
    calibration = {
        "alpha": chosen["alpha"],
        "use_grabcut": chosen["use_grabcut"],
        "n_images": chosen["n_images"],
        "n_targets": chosen["n_targets"],
        "table": chosen["table"],
        "figures": figures,
        "base_weights_win": use_base,
        "job": job.pk,
        "at": timezone.now().isoformat(),
    }
    _store(project, calibration, job)
    result = {k: calibration[k] for k in ("alpha", "use_grabcut", "n_images", "base_weights_win")}
    if job.payload.get("regenerate"):
        prelabel = project_prelabel_request(project=project, actor=None, image_ids=_unreviewed_ids(project))
        result["prelabel_job"] = prelabel.pk
    job_finish(job=job, message=_summary(calibration), result=result)


@transaction.atomic
def _store(project: Project, calibration: dict[str, Any], job: Job) -> None:
    locked = Project.objects.select_for_update().get(pk=project.pk)
    settings = dict(locked.settings or {})
    generator = dict(settings.get("generator") or {})
    generator.update(alpha=calibration["alpha"], use_grabcut=calibration["use_grabcut"])
    generator["base_weights"] = calibration["base_weights_win"]
    settings["generator"], settings["calibration"] = generator, calibration
    locked.settings = settings
    locked.version += 1
    locked.save(update_fields=["settings", "version", "updated_at"])
    audit_log(
        actor=job.created_by,
        project=locked,
        action="project.calibrate",
        obj=locked,
        data={k: calibration[k] for k in ("alpha", "use_grabcut", "n_images", "base_weights_win")},
    )


def _unreviewed_ids(project: Project) -> list[int]:
    """Images whose masks are all still generator output (nothing edited or confirmed there)."""
    touched = Image.objects.filter(
        project=project, masks__state__in=[MaskState.EDITED, MaskState.CONFIRMED]
    ).values_list("pk", flat=True)
    return list(
        Image.objects.filter(project=project, status__in=[ImageStatus.NEW, ImageStatus.IN_PROGRESS])
        .exclude(pk__in=touched)
        .values_list("pk", flat=True)
    )


def _summary(calibration: dict[str, Any]) -> str:
    figures = calibration["figures"]
    text = (
        f"alpha {calibration['alpha']:.2f}, GrabCut {'on' if calibration['use_grabcut'] else 'off'}: IoU "
        f"{figures['default']['iou']:.1f} -> {figures['calibrated']['iou']:.1f} on {calibration['n_images']} images"
    )
    seen = figures.get("base_weights_seen_images", 0)
    if "base_weights" in figures:
        verdict = "used" if calibration["base_weights_win"] else "not used"
        base, cold = figures["base_weights"]["iou"], figures["calibrated_unseen"]["iou"]
        text += f"; base weights {base:.1f} vs {cold:.1f} ({verdict})"
        if seen:
            text += f", judged on the {calibration['n_images'] - seen} images they were not trained on"
    elif seen:
        text += f"; base weights not used: they were trained on all {seen} of these images"
    return text
