"""Failed sign-ins are limited per client address and per user name on every door (token API, login form, admin
login), counted in a real Redis cache (what production uses, so every gunicorn worker shares the count)."""

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.db import connection as db_connection
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory

# The test settings keep a per-process cache (so parallel suites never share counters); here the login limit runs on
# a real Redis, each test under its own key prefix so nothing else on that Redis is touched.
CACHE_URL = os.environ.get("SECURITY_TEST_CACHE_URL", "redis://127.0.0.1:6379/10")
LIMIT = 10


@pytest.fixture
def shared_cache(settings):
    """Redis as the default cache (fails loudly when Redis is down), the production limit, cleaned afterwards."""
    connection = redis.Redis.from_url(CACHE_URL)
    connection.ping()
    prefix = f"security-test-{uuid.uuid4().hex}"
    backend = "django.core.cache.backends.redis.RedisCache"
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": CACHE_URL, "KEY_PREFIX": prefix}}
    settings.LOGIN_FAILURE_LIMIT = LIMIT
    settings.LOGIN_FAILURE_WINDOW_S = 60
    yield connection, prefix
    keys = list(connection.scan_iter(f"{prefix}:*"))
    if keys:
        connection.delete(*keys)
    connection.close()


def _token(username: str, password: str, ip: str = "10.0.0.1", **headers):
    return APIClient().post(
        reverse("auth-token"), {"username": username, "password": password}, REMOTE_ADDR=ip, **headers
    )


@pytest.mark.django_db
def test_token_login_failures_per_client_address(shared_cache):
    connection, prefix = shared_cache
    user = UserFactory()
    codes = [_token(f"guess{i}", "wrong").status_code for i in range(LIMIT)]
    assert codes == [400] * LIMIT
    refused = _token(user.username, "pw")  # even the right password, from that address
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert refused.json() == {"message": "Too many failed sign-ins. Expected available in 60 seconds.", "extra": {}}
    assert _token(user.username, "pw", ip="10.0.0.2").status_code == 200  # another address is not blocked
    # The count lives in Redis, where every web process (gunicorn worker, machine) reads it.
    counter = connection.get(f"{prefix}:1:login-failures:client:10.0.0.1")
    assert counter is not None and int(counter) == LIMIT


@pytest.mark.django_db
def test_token_login_failures_per_user_name(shared_cache):
    user = UserFactory()
    codes = [_token(user.username.upper() if i % 2 else user.username, "wrong", ip=f"10.1.0.{i}") for i in range(LIMIT)]
    assert [response.status_code for response in codes] == [400] * LIMIT
    assert _token(user.username, "pw", ip="10.2.0.1").status_code == 429  # a fresh address, same user name
    assert _token(UserFactory().username, "pw", ip="10.2.0.2").status_code == 200  # other users sign in


@pytest.mark.django_db
def test_right_password_clears_the_user_names_count(shared_cache):
    user = UserFactory()
    for i in range(LIMIT - 1):
        assert _token(user.username, "wrong", ip=f"10.3.0.{i}").status_code == 400
    assert _token(user.username, "pw", ip="10.3.1.1").status_code == 200
    for i in range(LIMIT - 1):
        assert _token(user.username, "wrong", ip=f"10.3.2.{i}").status_code == 400


@pytest.mark.django_db
def test_forged_forwarded_for_gives_no_fresh_allowance(shared_cache):
    for i in range(LIMIT):
        assert _token(f"g{i}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code == 400
    assert _token("g-next", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.200").status_code == 429


@pytest.mark.django_db
def test_behind_one_proxy_the_proxys_entry_is_the_client(shared_cache, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.9.9.9"
    for i in range(LIMIT):  # the client forges a first entry; the proxy appends the real address
        assert _token(f"p{i}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 198.51.100.7").status_code == 400
    assert _token("p-next", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert _token("p-other", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 400


@pytest.mark.django_db
def test_login_form_and_admin_login_share_the_limit(shared_cache, client):
    user = UserFactory(is_staff=True)
    login, admin_login = reverse("login"), reverse("admin-login")
    for i in range(LIMIT // 2):
        page = client.post(login, {"username": user.username, "password": f"wrong{i}"}, REMOTE_ADDR="10.4.0.1")
        assert page.status_code == 200
        assert b"Wrong user name or password." in page.content
    for i in range(LIMIT - LIMIT // 2):
        page = client.post(admin_login, {"username": user.username, "password": f"x{i}"}, REMOTE_ADDR="10.4.0.1")
        assert page.status_code == 200
    page = client.post(login, {"username": user.username, "password": "pw"}, REMOTE_ADDR="10.4.0.1")
    assert page.status_code == 429
    assert page["Retry-After"] == "60"
    assert b"Too many failed sign-ins. Try again in 60 seconds." in page.content
    assert "_auth_user_id" not in client.session  # the right password did not sign in
    assert client.post(admin_login, {"username": user.username, "password": "pw"}).status_code == 429
    assert _token(user.username, "pw", ip="10.4.0.9").status_code == 429  # same user name, the API door


@pytest.mark.django_db
def test_login_form_signs_in_below_the_limit(shared_cache, client):
    user = UserFactory()
    page = client.post(reverse("login"), {"username": user.username, "password": "pw"}, REMOTE_ADDR="10.5.0.1")
    assert (page.status_code, page["Location"]) == (302, "/")
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
def test_the_block_ends_with_the_window(shared_cache, settings):
    settings.LOGIN_FAILURE_WINDOW_S = 1
    user = UserFactory()
    for _ in range(LIMIT):
        _token(user.username, "wrong", ip="10.6.0.1")
    assert _token(user.username, "pw", ip="10.6.0.1").status_code == 429
    time.sleep(1.5)
    assert _token(user.username, "pw", ip="10.6.0.1").status_code == 200


@pytest.mark.django_db
def test_login_form_never_redirects_off_site(shared_cache, client):
    user = UserFactory()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        page = client.post(reverse("login"), {"username": user.username, "password": "pw", "next": target})
        assert (page.status_code, page["Location"]) == (302, "/"), target
    page = client.post(reverse("login"), {"username": user.username, "password": "pw", "next": "/admin/"})
    assert page["Location"] == "/admin/"


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_check_at_most_the_limit(shared_cache, settings):
    """40 wrong passwords at once from one address: each attempt is counted before its password is checked, so at
    most LIMIT are checked (400) and the rest refused (429), however the requests interleave."""
    # A real hasher: checking a password takes as long as in production, which is the window the race needs.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory()
    barrier = threading.Barrier(40)

    def attempt(i: int) -> int:
        barrier.wait()
        try:
            return _token(user.username, f"wrong{i}", ip="10.7.0.1").status_code
        finally:
            db_connection.close()

    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(attempt, range(40)))
    assert sorted(set(codes)) == [400, 429], codes
    assert codes.count(400) <= LIMIT, f"{codes.count(400)} passwords checked, the limit is {LIMIT}"
    assert codes.count(400) + codes.count(429) == 40
    connection, prefix = shared_cache
    assert int(connection.get(f"{prefix}:1:login-failures:client:10.7.0.1")) == codes.count(400)
