"""Production settings: `check --deploy` clean, refusal to start without secrets or a shared cache, secure cookies
as a browser receives them, CSRF on every session-authenticated write, and no literal secrets in the settings."""

import ast
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import ProjectFactory, UserFactory
from tests.labeling.apis.test_permission_matrix import ROLES, RULES, make_world
from tests.system.security.test_cross_project import media_files, snapshot

REPO = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("SECURITY_TEST_CACHE_URL", "redis://127.0.0.1:6379/10")
# What a deployment must send to a browser; the values are read from webapp.settings.production itself.
COOKIE_AND_HEADER_SETTINGS = [
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A clean production environment: nothing of the caller's DJANGO_*/broker/cache variables leaks in."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "REDIS_", "DATABASE_"))}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "webapp.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "DJANGO_CACHE_URL": REDIS_URL,
        "DJANGO_ALLOWED_HOSTS": "label.example.org",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://label.example.org",
        "DJANGO_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "PYTHONPATH": str(REPO),
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def load_production(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    """Import webapp.settings.production in a fresh interpreter; prints the settings that matter as JSON."""
    code = (
        "import json, webapp.settings.production as s;"
        f"names = {COOKIE_AND_HEADER_SETTINGS + ['CACHES']!r};"
        "print(json.dumps({n: getattr(s, n) for n in names}))"
    )
    env = production_env(tmp_path, **overrides)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_check_deploy_is_clean(tmp_path):
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    clean = subprocess.run(command, cwd=REPO, env=production_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no issues" in clean.stdout
    # Control: the same check does fail a deployment that turns a protection off.
    weak = subprocess.run(
        command,
        cwd=REPO,
        env=production_env(tmp_path, DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SECURE_HSTS_SECONDS="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert weak.returncode != 0
    assert "security.W004" in weak.stderr + weak.stdout and "security.W008" in weak.stderr + weak.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "dev-insecure-key-change-me"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_CACHE_URL": None, "CELERY_BROKER_URL": "filesystem://"}, "needs a shared cache"),
    ],
    ids=["no-key", "empty-key", "dev-key", "no-shared-cache"],
)
def test_production_refuses_to_start(tmp_path, overrides, message):
    result = load_production(tmp_path, **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_cache_is_redis_from_the_environment(tmp_path):
    explicit = json.loads(load_production(tmp_path).stdout)["CACHES"]["default"]
    assert (explicit["BACKEND"], explicit["LOCATION"]) == ("django.core.cache.backends.redis.RedisCache", REDIS_URL)
    fallback = load_production(tmp_path, DJANGO_CACHE_URL=None, CELERY_BROKER_URL="redis://broker:6379/3")
    cache = json.loads(fallback.stdout)["CACHES"]["default"]
    assert (cache["BACKEND"], cache["LOCATION"]) == (
        "django.core.cache.backends.redis.RedisCache",
        "redis://broker:6379/3",
    )


@pytest.fixture
def production_security(settings, tmp_path):
    """This process's settings with production's cookie and header values, as read from webapp.settings.production."""
    result = load_production(tmp_path)
    assert result.returncode == 0, result.stderr
    for name, value in json.loads(result.stdout).items():
        if name != "CACHES":
            setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    return settings


@pytest.mark.django_db
def test_browser_gets_secure_cookies_and_headers(production_security):
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    assert client.get(reverse("login")).status_code == 301  # plain HTTP is sent to HTTPS
    # The proxy's header (SECURE_PROXY_SSL_HEADER); over HTTPS Django's CSRF check also wants a same-site Referer.
    https = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "testserver", "HTTP_REFERER": "https://testserver/"}
    page = client.get(reverse("login"), **https)
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax" and not csrf["httponly"]  # the frontend reads it
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"

    form = {"username": user.username, "password": "pw"}
    assert client.post(reverse("login"), form, **https).status_code == 403  # no CSRF token: refused
    signed_in = client.post(reverse("login"), {**form, "csrfmiddlewaretoken": csrf.value}, **https)
    assert signed_in.status_code == 302
    session = signed_in.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


@pytest.mark.django_db
def test_every_session_write_needs_the_csrf_token():
    """Every write endpoint of the matrix, as a signed-in owner using the session but no CSRF token: 403, no change."""
    world = make_world(ProjectFactory())
    owner = world.users["owner"]
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(owner)
    kwargs_of: dict = {}  # one object per kwargs builder (promote and retire share a version)
    writes = [rule for rule in RULES if rule.method != "get" and rule.name != "auth-token"]
    assert len(writes) > 25
    requests = []
    for rule in writes:
        if rule.kwargs not in kwargs_of:
            kwargs_of[rule.kwargs] = rule.kwargs(world)
        requests.append((rule, reverse(rule.name, kwargs=kwargs_of[rule.kwargs])))
        rule.data(world, owner)
    rows, files = snapshot(world.project), media_files()
    for rule, url in requests:
        response = getattr(session, rule.method)(url, data=rule.data(world, owner), format=rule.format)
        assert response.status_code == 403, f"{rule.method.upper()} {rule.name}: {response.status_code}"
        assert "CSRF" in response.json()["message"]
    assert snapshot(world.project) == rows
    assert media_files() == files
    # Control: the same session with the token from its cookie gets through.
    token = session.get(reverse("frontend")).cookies["csrftoken"].value
    rule = next(r for r in writes if r.name == "target-list" and r.method == "post")
    url = reverse(rule.name, kwargs=rule.kwargs(world))
    response = session.post(url, rule.data(world, owner), format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == rule.expected[ROLES.index("owner")] == 201


# --- No literal secrets -------------------------------------------------------------------------------------------
_SECRET_NAME = re.compile(r"(^|_)(SECRET|SECRET_KEY|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIALS?)$", re.I)
_URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
# The one allowed literal: the development key, which production refuses (test_production_refuses_to_start).
ALLOWED = {("base.py", "SECRET_KEY", "dev-insecure-key-change-me")}


def _literals(node: ast.AST) -> list[str]:
    """Non-empty string constants in `node`, except the names of environment variables it reads."""
    names = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call) and getattr(inner.func, "attr", "") in ("get", "getenv") and inner.args:
            names.add(id(inner.args[0]))
        elif isinstance(inner, ast.Subscript):
            names.add(id(inner.slice))
    return [
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value and id(n) not in names
    ]


def _secret_literals(path: Path) -> set[tuple[str, str, str]]:
    """(file, name, literal) for every string given to a secret-looking setting, dict key or environment default."""
    found: set[tuple[str, str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and _SECRET_NAME.search(target.id):
                    found |= {(path.name, target.id, s) for s in _literals(node.value)}
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and _SECRET_NAME.search(key.value):
                    found |= {(path.name, key.value, s) for s in _literals(value)}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("get", "getenv") and len(node.args) > 1:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and _SECRET_NAME.search(name.value):
                found |= {(path.name, name.value.removeprefix("DJANGO_"), s) for s in _literals(node.args[1])}
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _URL_WITH_PASSWORD.search(node.value):
            found.add((path.name, "url with a password", node.value))
    return found


def test_settings_hold_no_literal_secrets():
    files = sorted((REPO / "webapp" / "settings").glob("*.py"))
    assert {f.name for f in files} >= {"base.py", "production.py", "test.py"}
    found = set().union(*(_secret_literals(f) for f in files))
    assert found == ALLOWED
    assert django_settings.SECRET_KEY  # the suite itself runs on the development key


def test_secret_scan_finds_a_planted_secret(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        'import os\nSECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "s3cr3t")\nEMAIL_HOST_PASSWORD = "hunter2"\n'
        'DATABASES = {"default": {"PASSWORD": "pw", "URL": "postgres://app:letmein@db/x"}}\n'
    )
    names = {name for _, name, _ in _secret_literals(planted)}
    assert names == {"SECRET_KEY", "EMAIL_HOST_PASSWORD", "PASSWORD", "url with a password"}
