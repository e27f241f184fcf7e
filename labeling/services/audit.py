"""The audit log: every service that changes state records who did what to which object."""

from typing import Any

from django.db import models

from labeling.models import AuditLog, Project


def audit_log(
    *, actor: Any, project: Project | int | None, action: str, obj: models.Model, data: dict | None = None
) -> AuditLog:
    """Record `action` on `obj`; `project` may be a Project or its id."""
    return AuditLog.objects.create(
        project_id=getattr(project, "pk", project),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        data=data or {},
    )
