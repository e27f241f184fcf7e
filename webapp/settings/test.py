"""Test settings: PostgreSQL and Redis for real (the suite exercises them), fast hashing, tmp media."""

import os
import tempfile
from pathlib import Path

import dj_database_url

from webapp.settings.base import *  # noqa: F401,F403
from webapp.settings.base import REDIS_TRANSPORT_OPTIONS, REST_FRAMEWORK

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"), conn_max_age=0
    )
}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_TRANSPORT_OPTIONS  # env-driven: fault tests shorten the redelivery time
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", tempfile.mkdtemp(prefix="labeling-media-")))
DEBUG = False
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1000/min"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="labeling-static-"))  # whitenoise wants it to exist
GENERATION_WAIT_S = 0.0  # tests that want the worker's masks pass ?wait=
