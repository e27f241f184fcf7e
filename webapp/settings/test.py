"""Test settings: PostgreSQL and Redis for real (the suite exercises them), fast hashing, tmp media."""

import os
import tempfile
from pathlib import Path

import dj_database_url

from webapp.settings.base import *  # noqa: F401,F403
from webapp.settings.base import REDIS_TRANSPORT_OPTIONS, REST_FRAMEWORK, cache_from_url

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        # 0 for the suite; a fault test serves with base's persistent, health-checked connections (60)
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_TRANSPORT_OPTIONS  # env-driven: fault tests shorten the redelivery time
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="labeling-media-")))
DEBUG = False
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1000/min"}}
# Per process, so parallel suites never share counters; tests/system/security drives the login limits on a real Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("DJANGO_CACHE_URL"):  # a fault test's server: production's shared cache on a private Redis
    CACHES = {"default": cache_from_url(os.environ["DJANGO_CACHE_URL"])}
LOGIN_FAILURE_LIMIT = int(os.environ.get("DJANGO_LOGIN_FAILURE_LIMIT", "1000"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="labeling-static-"))  # whitenoise wants it to exist
GENERATION_WAIT_S = 0.0  # tests that want the worker's masks pass ?wait=
