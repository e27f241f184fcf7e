"""Failed sign-ins counted per client address and per user name in the shared cache; too many refuse the next ones.

Both the token API and the browser login form use these, so one limit covers both doors. The counters live in
the default cache, which production requires to be Redis: a per-process cache would give every gunicorn worker
its own allowance.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

KEY_PREFIX = "login-failures"


def _keys(*, client: str, username: str) -> tuple[str, str]:
    # The name is hashed: cache keys must be short and safe whatever a client sends, and case variants count as one.
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:client:{client}", f"{KEY_PREFIX}:user:{name}"


def login_wait_seconds(*, client: str, username: str) -> int:
    """Seconds before this client may try this user name again (0: go ahead)."""
    counts = cache.get_many(_keys(client=client, username=username))
    if any(count >= settings.LOGIN_FAILURE_LIMIT for count in counts.values()):
        return settings.LOGIN_FAILURE_WINDOW_S
    return 0


def login_failed(*, client: str, username: str) -> None:
    """Count one failed attempt against the client address and against the user name (fixed window)."""
    for key in _keys(client=client, username=username):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_S)
        try:
            cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_S)


def login_succeeded(*, username: str) -> None:
    """A right password clears the user name's count (the client address keeps its own)."""
    cache.delete(_keys(client="", username=username)[1])
