"""API tokens: issued at sign-in, ended when their user's password changes, and (optionally) after a lifetime.

A token is a password-equivalent that a script keeps; changing the password must end it as it ends the sessions
(Django's session auth hash does that for sessions). Django tells every password validator after a new password is
saved, whichever way it was set (the password page, a one-time link, the admin, `manage.py changepassword`), so
`RevokeTokensOnPasswordChange` in AUTH_PASSWORD_VALIDATORS is the one place that sees them all, without a signal.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token


def token_lifetime() -> timedelta | None:
    """API_TOKEN_TTL_HOURS as a timedelta; None (0, the default) means tokens never expire."""
    hours = float(getattr(settings, "API_TOKEN_TTL_HOURS", 0) or 0)
    return timedelta(hours=hours) if hours > 0 else None


def token_expired(token: Token) -> bool:
    lifetime = token_lifetime()
    return lifetime is not None and token.created + lifetime <= timezone.now()


def token_issue(*, user: Any) -> Token:
    """The user's token for a sign-in: the current one while it lives, else a new one (an expired key is gone)."""
    token = Token.objects.filter(user=user).first()
    if token is not None and token_expired(token):
        token.delete()
        token = None
    if token is None:
        token, _ = Token.objects.get_or_create(user=user)  # a concurrent sign-in may have made it
    return token


def tokens_revoke(*, user: Any) -> int:
    """End every API token of `user`; returns how many there were."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


class RevokeTokensOnPasswordChange:
    """A password 'validator' that validates nothing: Django calls its password_changed() after any save that set a
    new password (not after a hash upgrade at sign-in), and it ends the user's API tokens."""

    def validate(self, password: str, user: Any = None) -> None:
        return None

    def password_changed(self, password: str, user: Any = None) -> None:
        if user is not None and user.pk is not None:
            tokens_revoke(user=user)

    def get_help_text(self) -> str:
        return ""
