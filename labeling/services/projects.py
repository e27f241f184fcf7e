"""Projects and their members: create, update settings (version-checked), delete, roles."""

import copy
import json
import math
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.choices import Role
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Membership, Project
from labeling.permissions import MANAGE, OWN, require_role
from labeling.services.audit import audit_log

# The effective settings are these defaults overlaid (one level deep) with the project's own.
PROJECT_SETTINGS_DEFAULTS: dict[str, dict[str, Any]] = {
    "point_style": {"color": "#ff3b30", "radius": 4},
    "generator": {"alpha": 0.35},
    # "Reviewer != annotator": whoever annotated (submitted) an image cannot confirm it. null = on when the project
    # has more than one member who can review (reviewer, manager or owner).
    "review": {"separate_reviewer": None},
    # Which frame "next image" hands out: "id" (upload order) or "active" (the frames the generators are least
    # sure of first: services.ranking; frames not ranked yet come after the ranked ones, in upload order).
    "claim": {"order": "id"},
    # Annotator QA (services.double): the share of frames labelled twice, blind, by two annotators (0: none).
    "qa": {"double_share": 0.0},
    # The learning loop (services.loop, .shadow, .training): at how many confirmed frames calibration and
    # fine-tuning run (then every N); a fine-tune's time budget (seconds_per_frame per confirmed frame, at most
    # time_budget_s: fits a CPU worker, a GPU worker makes more steps in it); the shadow rule: the confidence of
    # the paired test that promotes a candidate and of the one that rolls a promotion back, the Pd/Fat points a
    # candidate may lose, how long a candidate may wait, how long the replaced generator guards.
    "retrain": {
        "enabled": True,
        "calibrate_at": [1, 2, 5, 10, 15, 20, 30, 40, 60, 80, 120, 160],
        "calibrate_every": 80,
        "train_at": [3, 6, 10, 20, 40, 80, 160],
        "train_every": 160,
        "min_interval_minutes": 0,
        "time_budget_s": 300,
        "seconds_per_frame": 20,
        "seed": 0,
        "gate_confidence": 0.95,
        "rollback_confidence": 0.8,
        "pd_tolerance": 0.5,
        "fat_tolerance": 0.5,
        "shadow_max_frames": 80,
        "guard_frames": 20,
        "base_weights_candidate": True,
        "prelabel_on_promote": True,
    },
}
SETTINGS_MAX_BYTES = 64 * 1024
PROJECT_DESCRIPTION_MAX_CHARS = 10_000
# Numeric retraining settings and their bounds; the training task's soft time limit covers the largest budget.
RETRAIN_BOUNDS = (
    ("min_interval_minutes", 0, 60 * 24 * 30),
    ("time_budget_s", 1, 3000),
    ("seed", 0, 2**31 - 1),
    ("gate_confidence", 0.5, 0.999),
    ("rollback_confidence", 0.5, 0.999),
    ("pd_tolerance", 0, 100),
    ("fat_tolerance", 0, 100),
    ("calibrate_every", 1, 1_000_000),
    ("train_every", 1, 1_000_000),
    ("shadow_max_frames", 5, 100_000),
    ("seconds_per_frame", 1, 3000),
    ("guard_frames", 1, 100_000),
)
SCHEDULE_KEYS = ("calibrate_at", "train_at")
CLAIM_ORDERS = ("id", "active")
MAX_SCHEDULE = 32


def project_settings(project: Project) -> dict[str, Any]:
    """The project's settings with the defaults filled in."""
    merged = copy.deepcopy(PROJECT_SETTINGS_DEFAULTS)
    for key, value in (project.settings or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def _number(value: Any, where: str, low: float, high: float, *, open_interval: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApplicationError(f"settings.{where} must be a number.", extra={"field": where})
    inside = low < value < high if open_interval else low <= value <= high
    if not inside:
        bounds = f"({low}, {high})" if open_interval else f"[{low}, {high}]"
        raise ApplicationError(f"settings.{where} must lie in {bounds}, got {value}.", extra={"field": where})


def _schedule(value: Any, where: str) -> None:
    """A milestone list: increasing positive whole numbers of confirmed frames."""
    ok = isinstance(value, list) and 0 < len(value) <= MAX_SCHEDULE
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1_000_000 for v in value)
    if not ok or any(b <= a for a, b in zip(value, value[1:], strict=False)):
        raise ApplicationError(
            f"settings.{where} must be a list of at most {MAX_SCHEDULE} increasing whole numbers of frames.",
            extra={"field": where},
        )


def project_description_validate(description: str) -> str:
    """A description is shown on every project card and kept in the audit log: a page of text, not a file."""
    if len(description) > PROJECT_DESCRIPTION_MAX_CHARS:
        raise ApplicationError(
            f"description must stay under {PROJECT_DESCRIPTION_MAX_CHARS} characters, got {len(description)}.",
            extra={"field": "description", "limit": PROJECT_DESCRIPTION_MAX_CHARS},
        )
    return description


def project_settings_validate(settings: Any) -> dict[str, Any]:
    """Check the known keys (unknown top-level keys are kept for later features); 400 naming the field."""
    if not isinstance(settings, dict):
        raise ApplicationError("settings must be a JSON object.")
    if len(json.dumps(settings)) > SETTINGS_MAX_BYTES:
        raise ApplicationError(
            f"settings must stay under {SETTINGS_MAX_BYTES} bytes of JSON.",
            extra={"field": "settings", "limit": SETTINGS_MAX_BYTES},
        )
    for key in PROJECT_SETTINGS_DEFAULTS:
        if key in settings and not isinstance(settings[key], dict):
            raise ApplicationError(f"settings.{key} must be a JSON object.", extra={"field": key})
    style = settings.get("point_style", {})
    if "radius" in style:
        _number(style["radius"], "point_style.radius", 1, 64)
    if "color" in style and not (isinstance(style["color"], str) and len(style["color"]) <= 32):
        raise ApplicationError("settings.point_style.color must be a CSS colour string.", extra={"field": "color"})
    generator = settings.get("generator", {})
    if "alpha" in generator:
        _number(generator["alpha"], "generator.alpha", 0, 1, open_interval=True)
    for key in ("use_grabcut", "size_rule", "gaps"):
        if key in generator and not isinstance(generator[key], bool):
            where = f"generator.{key}"
            raise ApplicationError(f"settings.{where} must be true or false.", extra={"field": where})
    review = settings.get("review", {})
    if "separate_reviewer" in review and not isinstance(review["separate_reviewer"], bool | None):
        raise ApplicationError(
            "settings.review.separate_reviewer must be true, false or null (automatic).",
            extra={"field": "review.separate_reviewer"},
        )
    claim = settings.get("claim", {})
    if "order" in claim and claim["order"] not in CLAIM_ORDERS:
        raise ApplicationError(
            f"settings.claim.order must be one of {', '.join(CLAIM_ORDERS)}, got {claim['order']!r}.",
            extra={"field": "claim.order"},
        )
    qa = settings.get("qa", {})
    if "double_share" in qa:
        _number(qa["double_share"], "qa.double_share", 0, 1)
    retrain = settings.get("retrain", {})
    if "min_new_confirmed" in retrain:
        _number(retrain["min_new_confirmed"], "retrain.min_new_confirmed", 1, 1_000_000)
    for key, low, high in RETRAIN_BOUNDS:
        if key in retrain:
            _number(retrain[key], f"retrain.{key}", low, high)
    for key in SCHEDULE_KEYS:
        if key in retrain:
            _schedule(retrain[key], f"retrain.{key}")
    for key in ("enabled", "prelabel_on_promote", "base_weights_candidate"):
        if key in retrain and not isinstance(retrain[key], bool):
            raise ApplicationError(f"settings.retrain.{key} must be true or false.", extra={"field": f"retrain.{key}"})
    return settings


@transaction.atomic
def project_create(*, name: str, actor: Any, description: str = "", settings: dict | None = None) -> Project:
    """A new project; its creator becomes its owner."""
    project = Project.objects.create(
        name=name,
        description=project_description_validate(description),
        settings=project_settings_validate(settings or {}),
        created_by=actor,
    )
    Membership.objects.create(project=project, user=actor, role=Role.OWNER)
    audit_log(actor=actor, project=project, action="project.create", obj=project, data={"name": name})
    return project


@transaction.atomic
def project_update(
    *,
    project: Project,
    actor: Any,
    version: int,
    name: str | None = None,
    description: str | None = None,
    settings: dict | None = None,
) -> Project:
    """Rename/describe, or merge `settings` into the project's (a key set to null is removed); stale version -> 409."""
    require_role(actor, project, MANAGE, "change the project")
    locked = Project.objects.select_for_update().get(pk=project.pk)
    if locked.version != version:
        raise ConflictError(
            "The project was changed by someone else; reload it.", extra={"current_version": locked.version}
        )
    changes: dict[str, Any] = {}
    if name is not None:
        locked.name = changes["name"] = name
    if description is not None:
        locked.description = changes["description"] = project_description_validate(description)
    if settings is not None:
        merged = dict(locked.settings or {})
        if not isinstance(settings, dict):
            raise ApplicationError("settings must be a JSON object.")
        for key, value in settings.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        locked.settings = project_settings_validate(merged)
        changes["settings"] = settings
    locked.version += 1
    locked.save()
    audit_log(actor=actor, project=locked, action="project.update", obj=locked, data=changes)
    return locked


@transaction.atomic
def project_delete(*, project: Project, actor: Any) -> None:
    require_role(actor, project, OWN, "delete the project")
    audit_log(actor=actor, project=None, action="project.delete", obj=project, data={"name": project.name})
    project.delete()


# --- Members ------------------------------------------------------------------------------------
def _parse_role(role: str) -> Role:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}; one of {', '.join(Role.values)}.", extra={"role": role})
    return Role(role)


def _require_owner_for(actor: Any, project: Project, *roles: str) -> None:
    if Role.OWNER in roles:
        require_role(actor, project, OWN, "grant or revoke the owner role")


def _owners_locked(project: Project) -> list[Membership]:
    return list(Membership.objects.select_for_update().filter(project=project, role=Role.OWNER).order_by("id"))


@transaction.atomic
def membership_add(*, project: Project, username: str, role: str, actor: Any) -> Membership:
    require_role(actor, project, MANAGE, "manage members")
    role = _parse_role(role)
    _require_owner_for(actor, project, role)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ApplicationError(f"No user named {username!r}.", extra={"username": username}, status_code=404)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ConflictError(f"{username} is already a member of this project.", extra={"username": username})
    membership = Membership.objects.create(project=project, user=user, role=role)
    audit_log(actor=actor, project=project, action="member.add", obj=membership, data={"user": username, "role": role})
    return membership


@transaction.atomic
def membership_update_role(*, membership: Membership, role: str, actor: Any) -> Membership:
    project = membership.project
    require_role(actor, project, MANAGE, "manage members")
    role = _parse_role(role)
    _require_owner_for(actor, project, role, membership.role)
    owners = _owners_locked(project)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER and role != Role.OWNER and len(owners) <= 1:
        raise ConflictError("The last owner cannot be demoted; make someone else owner first.")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_log(actor=actor, project=project, action="member.role", obj=membership, data={"from": previous, "to": role})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Any) -> None:
    project = membership.project
    require_role(actor, project, MANAGE, "manage members")
    _require_owner_for(actor, project, membership.role)
    owners = _owners_locked(project)
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise ConflictError("The last owner cannot be removed; make someone else owner first.")
    audit_log(
        actor=actor,
        project=project,
        action="member.remove",
        obj=membership,
        data={"user_id": membership.user_id, "role": membership.role},
    )
    membership.delete()
