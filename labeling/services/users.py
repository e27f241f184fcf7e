"""People on the team: invite (a one-time set-password link), reset a password (a new link; the old password dies
at once), deactivate/reactivate, under the project role rules.

Why links and not passwords: the manager never learns, types or sends a password; the person chooses their own
on a page that only a fresh, unexpired, unused link opens (Django's password-reset token: an HMAC over the
user's password hash, last sign-in, e-mail and active flag, so setting the password, signing in or being
deactivated spends every link issued before). No mail server is needed: the link is shown once to the manager,
who passes it on.

Who may act on whom (`user_manage_denial`): a superuser on anyone but themselves; anyone else only on a person
all of whose projects they manage (manager or owner there), who is owner in none of them unless the actor is
owner there too, and who is neither a superuser nor staff (admin-site accounts are the administrators' own).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from labeling.choices import Role, role_at_least
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Membership, Project
from labeling.permissions import MANAGE, require_role
from labeling.services.audit import audit_log
from labeling.services.images import images_release
from labeling.services.projects import membership_add


class AccountLinkTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset token, also spent by deactivation (a link issued before it never opens afterwards)."""

    key_salt = "labeling.services.users.AccountLinkTokenGenerator"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{super()._make_hash_value(user, timestamp)}{int(user.is_active)}"


account_link_token = AccountLinkTokenGenerator()


@dataclass(frozen=True)
class AccountLink:
    """Where the person sets their password (a path; the API makes it absolute) and until when it opens."""

    user: Any
    path: str
    expires_at: datetime


def _link(user: Any) -> AccountLink:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("account-setup", kwargs={"uidb64": uid, "token": account_link_token.make_token(user)})
    expires_at = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return AccountLink(user=user, path=path, expires_at=expires_at)


def user_status(user: Any) -> str:
    """active, invited (never set a password) or deactivated."""
    if not user.is_active:
        return "deactivated"
    return "active" if user.has_usable_password() else "invited"


def user_manage_denial(*, actor: Any, target: Any) -> str | None:
    """Why `actor` may not reset, deactivate or reactivate `target` (None: they may)."""
    theirs = list(Membership.objects.filter(user=target).select_related("project"))
    return manage_denial(actor=actor, target=target, theirs=theirs, mine=actor_roles(actor))


def actor_roles(actor: Any) -> dict[int, str]:
    """The actor's role per project id (what `manage_denial` compares against)."""
    return dict(Membership.objects.filter(user=actor).values_list("project_id", "role"))


def manage_denial(*, actor: Any, target: Any, theirs: list[Membership], mine: dict[int, str]) -> str | None:
    """The rule itself, on loaded rows (the team list applies it to every row without a query each): `theirs`
    are all of the target's memberships, `mine` the actor's role per project id."""
    if actor.pk == target.pk:
        return "You cannot do this to your own account (change your own password at /accounts/password/)."
    if actor.is_superuser:
        return None
    if target.is_superuser or target.is_staff:
        return f"{target.username} is an administrator; only a superuser can change their account."
    if not theirs:
        return f"{target.username} is in none of your projects; only a superuser can change their account."
    for membership in theirs:
        role = mine.get(membership.project_id)
        if not role_at_least(role, Role.MANAGER):  # the project is not named: the actor may not even be in it
            return f"{target.username} is also in a project you do not manage; ask its managers or an administrator."
        if membership.role == Role.OWNER and role != Role.OWNER:
            return f"{target.username} owns {membership.project.name}; only its owners can change their account."
    return None


def _require_manageable(actor: Any, target: Any) -> list[int]:
    """403 with the reason unless `actor` may act on `target`; their project ids (for the audit rows)."""
    reason = user_manage_denial(actor=actor, target=target)
    if reason is not None:
        raise ApplicationError(reason, extra={"user_id": target.pk}, status_code=403)
    return list(Membership.objects.filter(user=target).values_list("project_id", flat=True))


def _audit_everywhere(*, actor: Any, target: Any, projects: list[int], action: str, data: dict) -> None:
    """One row in each of the person's projects: every project's managers see what happened to their member."""
    for project_id in projects or [None]:
        audit_log(actor=actor, project=project_id, action=action, obj=target, data={"user": target.username, **data})


def _clean_username(username: str) -> str:
    username = username.strip()
    user_model = get_user_model()
    try:
        user_model.username_validator(username)
    except DjangoValidationError as exc:
        raise ApplicationError(
            f"{username!r} is not a valid user name: letters, digits and @.+-_ only.", extra={"field": "username"}
        ) from exc
    if user_model.objects.filter(username__iexact=username).exists():
        raise ConflictError(
            f"A user named {username!r} already exists; add them as a member instead of inviting them.",
            extra={"field": "username", "exists": True},
        )
    return username


@transaction.atomic
def user_invite(*, project: Project, actor: Any, username: str, role: str, email: str = "") -> AccountLink:
    """A new account with no usable password, a member of `project` with `role`, and its one-time setup link.

    The role rules are membership_add's (only owners grant owner).
    """
    require_role(actor, project, MANAGE, "invite people")
    username = _clean_username(username)
    if email:
        try:
            validate_email(email)
        except DjangoValidationError as exc:
            raise ApplicationError(f"{email!r} is not an e-mail address.", extra={"field": "email"}) from exc
    user = get_user_model()(username=username, email=email)
    user.set_unusable_password()
    user.save()
    membership_add(project=project, username=username, role=role, actor=actor)
    audit_log(actor=actor, project=project, action="user.invite", obj=user, data={"user": username, "role": role})
    return _link(user)


@transaction.atomic
def user_password_reset(*, target: Any, actor: Any) -> AccountLink:
    """The old password stops working now (and with it the person's sessions and API token); the new one is
    set by the person through the returned one-time link. Also re-issues an invitation's link (the old one dies).
    """
    target = get_user_model().objects.select_for_update().get(pk=target.pk)
    projects = _require_manageable(actor, target)
    if not target.is_active:
        raise ConflictError(f"{target.username} is deactivated; reactivate them first.", extra={"user_id": target.pk})
    target.set_unusable_password()  # a new random hash: the session hash and every earlier link no longer match
    target.save(update_fields=["password"])
    Token.objects.filter(user=target).delete()
    _audit_everywhere(actor=actor, target=target, projects=projects, action="user.password_reset", data={})
    return _link(target)


@transaction.atomic
def user_set_active(*, target: Any, actor: Any, is_active: bool) -> int:
    """Deactivate (no sign-in, no session, no token; memberships kept; their unfinished images released to the
    others) or reactivate a person. Returns how many images were released."""
    target = get_user_model().objects.select_for_update().get(pk=target.pk)
    projects = _require_manageable(actor, target)
    released = 0
    if target.is_active != is_active:
        target.is_active = is_active
        target.save(update_fields=["is_active"])
        if not is_active:
            released = images_release(user=target, actor=actor)
        action = "user.activate" if is_active else "user.deactivate"
        _audit_everywhere(actor=actor, target=target, projects=projects, action=action, data={"released": released})
    return released
