"""PostgreSQL stops, starts and restarts under one running gunicorn (a private cluster on a free port).

While the database is down every request answers 503 with {message, extra} and Retry-After, quickly and without a
stack trace (API calls, a write, the token login and a signed-in page alike), and a refused write leaves nothing
behind. Once the database is back the same gunicorn worker answers 200 again: Django drops a connection that
failed, and a persistent connection (CONN_MAX_AGE=60, as in production) is health-checked before reuse, so a
restart between two requests is not even seen by the client.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.system.reliability.conftest import PostgresCluster, WebServer, free_port, json_error, manage, wait_for

SETUP = """
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from labeling.services.projects import project_create
user = get_user_model().objects.create_user("alice", password="faults-password-1")
project_create(name="before the outage", actor=user)
print(Token.objects.create(user=user).key)
"""


@dataclass
class Served:
    cluster: PostgresCluster
    web: WebServer
    api: requests.Session  # token
    browser: requests.Session  # signed in through the login form (session cookie)

    def get(self, path: str) -> requests.Response:
        return self.api.get(self.web.url(f"/api/v1/{path}"), timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("database-faults")
    cluster = PostgresCluster()
    web = None
    try:
        cluster.create()
        cluster.action("start")
        cluster.sql("CREATE DATABASE faults")
        env = {
            "DATABASE_URL": cluster.url("faults"),
            "DJANGO_CONN_MAX_AGE": "60",  # production's persistent, health-checked connections
            "DJANGO_MEDIA_ROOT": str(tmp / "media"),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing here enqueues; never the shared one
        }
        token = manage("shell", "-c", SETUP, env=env).split()[-1]  # migrate, a user, a project, a token
        web = WebServer(env, tmp / "web.log", workers=1, threads=2)
        web.spawn()
        web.wait_ready()
        api = requests.Session()
        api.headers["Authorization"] = f"Token {token}"
        yield Served(cluster, web, api, _signed_in(web))
    finally:
        if web is not None:
            web.stop()
        cluster.drop()


def _signed_in(web: WebServer) -> requests.Session:
    browser = requests.Session()
    form = browser.get(web.url("/accounts/login/"), timeout=30).text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    browser.post(
        web.url("/accounts/login/"),
        data={"username": "alice", "password": "faults-password-1", "csrfmiddlewaretoken": csrf},
        timeout=30,
    )
    assert browser.get(web.url("/"), timeout=30, allow_redirects=False).status_code == 200, "sign-in failed"
    return browser


def _project_names(served: Served) -> set[str]:
    response = served.get("projects/")
    assert response.status_code == 200, response.text
    body = response.json()
    return {p["name"] for p in (body["results"] if isinstance(body, dict) else body)}


def test_requests_fail_cleanly_while_postgresql_is_down_and_the_same_server_recovers(served):
    for _ in range(3):  # both threads hold a persistent connection now
        assert _project_names(served) == {"before the outage"}

    served.cluster.action("stop")
    web = served.web
    attempts = [
        lambda: served.get("projects/"),
        lambda: served.get("me/"),
        lambda: served.api.post(web.url("/api/v1/projects/"), json={"name": "during the outage"}, timeout=30),
        lambda: requests.post(
            web.url("/api/v1/auth/token/"), data={"username": "alice", "password": "faults-password-1"}, timeout=30
        ),
        lambda: served.browser.get(web.url("/"), timeout=30, allow_redirects=False),  # a page, signed in
    ]
    for attempt in attempts * 2:
        started = time.monotonic()
        response = attempt()
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (response.request.method, response.request.url, response.text[:500])
        assert "database is unavailable" in json_error(response)
        assert response.headers["Retry-After"].isdigit()
        assert elapsed < 5, f"{response.request.url} took {elapsed:.1f} s to fail"

    served.cluster.action("start")
    wait_for(lambda: served.get("me/").status_code == 200, 30, "the API to answer again", every=0.2)
    created = served.api.post(web.url("/api/v1/projects/"), json={"name": "after the outage"}, timeout=30)
    assert created.status_code == 201, created.text
    assert _project_names(served) == {"before the outage", "after the outage"}  # the refused write left nothing
    assert served.browser.get(web.url("/"), timeout=30, allow_redirects=False).status_code == 200
    assert web.proc.poll() is None and web.boots() == 1  # the same gunicorn worker: nothing was restarted


def test_a_postgresql_restart_between_requests_is_not_seen_by_clients(served):
    names = _project_names(served)
    served.cluster.action("restart")  # every persistent connection of the server is now dead
    for _ in range(4):  # each thread health-checks its connection, finds it dead and reconnects
        assert _project_names(served) == names
    assert served.web.proc.poll() is None and served.web.boots() == 1
