"""Sign-in attempts counted per client address and per user name in the shared cache; past the limit the next ones
are refused without checking their password.

Both the token API and the browser login form use these, so one limit covers both doors. The counters live in
the default cache, which production requires to be Redis: a per-process cache would give every gunicorn worker
its own allowance. An attempt is counted (an atomic increment) before its password is checked, so parallel
attempts cannot all read "below the limit" and all be checked: of any number sent at once, at most the limit are.

While the shared cache cannot be reached (Redis down), signing in must still work: each process then counts in
its own memory (the limit holds per process) and logs a warning, instead of answering a 500.
"""

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError

KEY_PREFIX = "login-failures"
CACHE_UNREACHABLE = (RedisError, OSError)  # Redis down, refused, timed out; a file cache's disk failing
LOCAL_CACHE = LocMemCache("login-attempts-fallback", {"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": 100_000}})
T = TypeVar("T")
logger = logging.getLogger(__name__)


def with_local_fallback(operation: Callable[[BaseCache], T]) -> T:
    """Run `operation` on the shared cache, or on this process's memory when the shared cache is unreachable."""
    try:
        return operation(cache)
    except CACHE_UNREACHABLE as exc:
        logger.warning("shared cache unreachable (%s): sign-in attempts are counted in this process", exc)
        return operation(LOCAL_CACHE)


def _keys(*, client: str, username: str) -> tuple[str, str]:
    # The name is hashed: cache keys must be short and safe whatever a client sends, and case variants count as one.
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:client:{client}", f"{KEY_PREFIX}:user:{name}"


def _increment(cache: BaseCache, key: str) -> int:
    """Add one to the window's count (the window starts with the first attempt); atomic on Redis (INCR)."""
    window = settings.LOGIN_FAILURE_WINDOW_S
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr: this attempt opens the next one
        cache.add(key, 0, timeout=window)
        return cache.incr(key)


def _decrement(cache: BaseCache, key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:  # the window has ended: nothing left to give back
        pass


def login_attempt_begin(*, client: str, username: str) -> int:
    """Count this attempt against the client address and the user name, before its password is checked.

    Returns the seconds to wait (and counts nothing) when either count is past the limit, else 0: check the
    password, then call `login_succeeded` or leave the attempt counted as a failure."""
    keys = _keys(client=client, username=username)

    def begin(cache: BaseCache) -> int:
        counts = [_increment(cache, key) for key in keys]
        if all(count <= settings.LOGIN_FAILURE_LIMIT for count in counts):
            return 0
        for key in keys:  # refused unchecked: it is no failure, and it must not hold a place a checked attempt needs
            _decrement(cache, key)
        return settings.LOGIN_FAILURE_WINDOW_S

    return with_local_fallback(begin)


def login_attempt_cancel(*, client: str, username: str) -> None:
    """The attempt ended before its password was checked (a refused form, say): give its place back."""
    keys = _keys(client=client, username=username)
    with_local_fallback(lambda cache: [_decrement(cache, key) for key in keys])


def login_succeeded(*, client: str, username: str) -> None:
    """A right password clears the user name's count, and the attempt no longer counts against the address."""
    client_key, user_key = _keys(client=client, username=username)
    with_local_fallback(lambda cache: (cache.delete(user_key), _decrement(cache, client_key)))
