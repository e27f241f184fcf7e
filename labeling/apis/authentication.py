"""Token authentication with an optional lifetime (API_TOKEN_TTL_HOURS): an expired token is deleted and answers
401 {message, extra} saying how to get a new one."""

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from labeling.services.tokens import token_expired, token_lifetime


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            hours = token_lifetime().total_seconds() / 3600
            raise AuthenticationFailed(
                f"The API token expired (tokens last {hours:g} hours); sign in again at POST /api/v1/auth/token/."
            )
        return user, token
