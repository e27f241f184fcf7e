"""Redis, which holds the sign-in counters and the token throttle, dies under a running gunicorn (a private
redis-server on a free port, killed for real).

While it is down (or hung), signing in still works on both doors (token API and login form), quickly and never
with a 500:
each web process counts failed attempts itself (the limit then holds per process), and once Redis is back the
shared count is used again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.factories import UserFactory
from tests.system.reliability.conftest import RedisServer, WebServer, json_error, suite_database_url

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 4


@dataclass
class Served:
    redis: RedisServer
    web: WebServer


@pytest.fixture(scope="module")
def served(django_db_setup, tmp_path_factory) -> Iterator[Served]:
    """gunicorn whose cache (login counters, throttles) is a private Redis, as in production."""
    tmp = tmp_path_factory.mktemp("login-faults")
    redis = RedisServer(tmp)
    redis.start()
    env = {
        "DATABASE_URL": suite_database_url(),
        "DJANGO_MEDIA_ROOT": str(tmp / "media"),
        "CELERY_BROKER_URL": redis.url,
        "DJANGO_CACHE_URL": redis.url,
        "DJANGO_LOGIN_FAILURE_LIMIT": str(LIMIT),
    }
    web = WebServer(env, tmp / "web.log", workers=1, threads=2)
    try:
        web.spawn()
        web.wait_ready()
        yield Served(redis, web)
    finally:
        web.stop()
        redis.kill()


def _token(served: Served, username: str, password: str) -> requests.Response:
    return requests.post(
        served.web.url("/api/v1/auth/token/"), data={"username": username, "password": password}, timeout=30
    )


def _form(served: Served, username: str, password: str) -> requests.Response:
    browser = requests.Session()
    page = browser.get(served.web.url("/accounts/login/"), timeout=30).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
    return browser.post(served.web.url("/accounts/login/"), data=data, timeout=30, allow_redirects=False)


def test_sign_in_works_while_redis_is_down_and_counts_failures_per_process(served):
    user = UserFactory()
    assert _token(served, user.username, "pw").status_code == 200  # the stack works with Redis up
    assert _token(served, user.username, "wrong").status_code == 400

    served.redis.kill()
    started = time.monotonic()
    signed = _token(served, user.username, "pw")
    assert signed.status_code == 200, signed.text  # a right password signs in: not a 500
    assert signed.json()["token"]
    wrong = _token(served, user.username, "wrong")
    assert wrong.status_code == 400 and json_error(wrong) == "Wrong username or password."
    page = _form(served, user.username, "pw")
    assert (page.status_code, page.headers.get("Location")) == (302, "/"), page.text[:500]
    page = _form(served, user.username, "wrong")
    assert page.status_code == 200 and "Wrong user name or password." in page.text
    assert time.monotonic() - started < 10, "sign-in waited on the dead Redis"

    # The limit still holds, counted by the web process itself: this address has 2 failures of the outage already.
    other = UserFactory()
    codes = [_token(served, other.username, f"wrong{i}").status_code for i in range(LIMIT)]
    assert codes == [400] * (LIMIT - 2) + [429] * 2
    refused = _token(served, other.username, "pw")
    assert refused.status_code == 429 and refused.headers["Retry-After"], refused.text
    assert "Too many failed sign-ins" in json_error(refused)
    assert "Internal Server Error" not in served.web.log_path.read_text()

    served.redis.start()  # same port, empty: the shared count takes over again
    served.redis.freeze()  # hung (a partition): each cache call times out after 2 s, then the process counts
    try:
        started = time.monotonic()
        hung = _token(served, other.username, "pw")
        assert time.monotonic() - started < 10, "sign-in hung on a frozen Redis"
        assert hung.status_code == 429 and "Too many failed sign-ins" in json_error(hung)  # the process's count
    finally:
        served.redis.freeze(False)
    assert _token(served, other.username, "pw").status_code == 200
    import redis

    keys = redis.Redis(port=served.redis.port).keys("*login-failures*")
    assert keys, "the counters are back in Redis"
