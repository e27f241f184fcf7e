"""Roles per project: who may do what (viewer < annotator < reviewer < manager < owner)."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from labeling.choices import Role, role_at_least
from labeling.exceptions import ApplicationError
from labeling.models import Membership, Project

# What each action needs. Services check it (they take the acting user); APIs never do.
VIEW = Role.VIEWER
ANNOTATE = Role.ANNOTATOR  # targets, mask edits (not confirmed ones), claim and submit images
REVIEW = Role.REVIEWER  # confirm/reject masks and images, edit confirmed masks
MANAGE = Role.MANAGER  # upload/delete images, splits, settings, members (not owners), job cancel
OWN = Role.OWNER  # delete the project, grant/revoke owner


def role_of(user: Any, project: Project) -> str | None:
    """The user's role in the project (None for a non-member); uses `user_role` when a selector annotated it."""
    if not getattr(user, "is_authenticated", False):
        return None
    cached = getattr(project, "user_role", None)
    if cached is not None and getattr(project, "user_role_for", None) == user.pk:
        return cached
    role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    project.user_role, project.user_role_for = role, user.pk
    return role


def has_role(user: Any, project: Project, minimum: str) -> bool:
    return role_at_least(role_of(user, project), minimum)


_OPERATOR: ContextVar[bool] = ContextVar("operator", default=False)


@contextmanager
def operator() -> Iterator[None]:
    """Act with the operator's authority: the shell (manage.py commands) and the admin site. Whoever runs a command
    already holds the database and the admin site is for staff, so role checks pass; the user they name is the one
    the audit log records, not an authority."""
    token = _OPERATOR.set(True)
    try:
        yield
    finally:
        _OPERATOR.reset(token)


def require_role(user: Any, project: Project, minimum: str, action: str = "do this") -> None:
    """403 for a member below `minimum` (selectors already answered 404 to non-members)."""
    if _OPERATOR.get():
        return
    if not has_role(user, project, minimum):
        raise ApplicationError(
            f"You need the {Role(minimum).label.lower()} role or higher to {action}.",
            extra={"required_role": str(minimum), "role": role_of(user, project)},
            status_code=403,
        )
