"""Which generator serves a project, how each generator is named and run, the base weights, and putting a version
in service or taking it out (by the loop's promotion, or by hand: promote, roll back, retire).

A project's generator is its promoted model version (a fine-tuned EDGSP checkpoint, or cold-start settings chosen
by calibration); with none promoted, the project's own settings ("default": the cold start, or the shipped base
weights when a manager turned `generator.base_weights` on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from labeling import ml_adapter
from labeling.choices import GeneratorKind, ModelStatus
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import ModelVersion, Project
from labeling.permissions import MANAGE, require_role
from labeling.services.audit import audit_log
from labeling.services.projects import project_settings

DEFAULT_KEY = "default"


def base_weights() -> Path | None:
    """The base weights: the EDGSP_WEIGHTS setting when set (a site's own, e.g. trained on its other data), else
    the ones committed in ml/weights/, if present. A set path that is missing fails the `weights` system check."""
    configured = getattr(django_settings, "EDGSP_WEIGHTS", "")
    return Path(configured) if configured else ml_adapter.committed_weights()


def base_weights_problem() -> str | None:
    """Why the configured EDGSP_WEIGHTS cannot serve (None when unset or a file); cheap: no torch import."""
    path = base_weights() if getattr(django_settings, "EDGSP_WEIGHTS", "") else None
    return f"EDGSP_WEIGHTS={path} is not a file" if path is not None and not path.is_file() else None


def base_weights_seen() -> frozenset[str]:
    """The frames the base weights were trained or selected on. A model fine-tuned from them has effectively seen
    these frames, so scoring it on them would leak."""
    path = base_weights()
    return frozenset() if path is None else ml_adapter.checkpoint_seen(path)


def serving_model(project: Project) -> ModelVersion | None:
    """The project's promoted model version, if any (the newest promotion wins)."""
    return (
        ModelVersion.objects.filter(project=project, status=ModelStatus.PROMOTED)
        .order_by("-promoted_at", "-pk")
        .first()
    )


def checkpoint_path(version: ModelVersion) -> str:
    """A version's checkpoint as a file path (stored relative to MEDIA_ROOT, or absolute for base weights)."""
    if not version.checkpoint or Path(version.checkpoint).is_absolute():
        return version.checkpoint
    return default_storage.path(version.checkpoint)


def default_spec(project: Project) -> ml_adapter.GeneratorSpec:
    """The project's own settings: the cold start (alpha, GrabCut, size rule), or the base weights when a manager
    chose them."""
    generator = project_settings(project)["generator"]
    base = base_weights() if generator.get("base_weights") else None
    if base is not None:
        return ml_adapter.GeneratorSpec(
            method=ml_adapter.EDGSP, checkpoint=str(base), device=django_settings.EDGSP_DEVICE
        )
    return ml_adapter.GeneratorSpec(
        method=ml_adapter.COLDSTART,
        alpha=float(generator.get("alpha", 0.35)),
        use_grabcut=bool(generator.get("use_grabcut", False)),
        size_rule=bool(generator.get("size_rule", True)),
        gaps=bool(generator.get("gaps", True)),
    )


def version_spec(version: ModelVersion) -> ml_adapter.GeneratorSpec:
    """How to run a model version: its cold-start settings, or its checkpoint with its prior's settings."""
    params = version.params or {}
    if version.kind == GeneratorKind.COLDSTART:
        return ml_adapter.GeneratorSpec(
            method=ml_adapter.COLDSTART,
            alpha=float(params.get("alpha", 0.35)),
            use_grabcut=bool(params.get("use_grabcut", False)),
            size_rule=bool(params.get("size_rule", True)),
            gaps=bool(params.get("gaps", True)),
            model_version_id=version.pk,
        )
    prior = tuple(sorted((params.get("prior") or {}).items()))
    return ml_adapter.GeneratorSpec(
        method=ml_adapter.EDGSP,
        checkpoint=checkpoint_path(version),
        model_version_id=version.pk,
        device=django_settings.EDGSP_DEVICE,
        prior=prior,
        gaps=bool(params.get("gaps", True)),
    )


def generator_spec(project: Project) -> ml_adapter.GeneratorSpec:
    """The generator that makes the project's masks now."""
    model = serving_model(project)
    return version_spec(model) if model is not None else default_spec(project)


def generator_key(version: ModelVersion | None) -> str:
    """A generator's key in the frame records: "v<pk>" for a version, "default" for the project's settings."""
    return f"v{version.pk}" if version is not None else DEFAULT_KEY


def version_of_key(project: Project, key: str) -> ModelVersion | None:
    if key == DEFAULT_KEY or not key.startswith("v"):
        return None
    return ModelVersion.objects.filter(project=project, pk=int(key[1:])).first()


def spec_for_key(project: Project, key: str) -> ml_adapter.GeneratorSpec | None:
    """The spec of a generator key (None when its version no longer exists)."""
    if key == DEFAULT_KEY:
        return default_spec(project)
    version = version_of_key(project, key)
    return version_spec(version) if version is not None else None


def generator_label(version: ModelVersion | None, spec: ml_adapter.GeneratorSpec) -> str:
    """A short readable name for the dashboard: "cold start α 0.35", "v3 EDGSP (prior α 0.10)"."""
    if spec.method == ml_adapter.COLDSTART:
        text = f"cold start α {spec.alpha:.2f}" + (" + GrabCut" if spec.use_grabcut else "")
        text += "" if spec.size_rule else " (no size rule)"
        text += "" if spec.gaps else ", targets may touch"
    else:
        text = "EDGSP base weights" if version is None else version.arch
        alpha = dict(spec.prior).get("alpha")
        text += f" (prior α {alpha:.2f})" if alpha is not None else ""
        text += "" if spec.gaps else ", targets may touch"
    return f"v{version.number} {text}" if version is not None else text


def serve(version: ModelVersion) -> None:
    """Make `version` the one in service (the previous one retires); the caller saves `version`. Workers load it on
    their next request."""
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
    if version.status == ModelStatus.TRAINING or (version.kind == GeneratorKind.EDGSP and not version.checkpoint):
        raise ApplicationError(f"Model version {version.number} has not finished training.", extra={"id": version.pk})
    if version.kind == GeneratorKind.EDGSP and not Path(checkpoint_path(version)).is_file():
        raise ApplicationError(
            f"The checkpoint of model version {version.number} is missing.", extra={"checkpoint": version.checkpoint}
        )
    previous = serving_model(version.project)
    serve(version)
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
