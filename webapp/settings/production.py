"""Production: security hardening only; secrets, the database, broker and cache come from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

from webapp.settings.base import *  # noqa: F401,F403
from webapp.settings.base import CACHES, CELERY_BROKER_URL, REDIS_CACHE_BACKEND, cache_from_url

DEBUG = False

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip()
if not SECRET_KEY or SECRET_KEY.startswith(("dev-insecure", "django-insecure")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value in production "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'); it is never read from a file here."
    )

# Login throttling must count across every gunicorn worker and machine: a shared Redis cache, from
# DJANGO_CACHE_URL / REDIS_URL, else the broker's Redis (its keys are prefixed, so they never meet Celery's).
if CACHES["default"]["BACKEND"] != REDIS_CACHE_BACKEND:
    if not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(
            "Production needs a shared cache for login throttling: set DJANGO_CACHE_URL=redis://host:6379/1 "
            "(or REDIS_URL, or a Redis CELERY_BROKER_URL)."
        )
    CACHES = {"default": cache_from_url(CELERY_BROKER_URL)}

# Cookies: HTTPS only; the session cookie is out of scripts' reach; neither is sent on cross-site requests.
# The CSRF cookie stays readable by scripts: the frontend (frontend/src/api.js) copies it into X-CSRFToken.
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = False
CSRF_COOKIE_SAMESITE = "Lax"

# TLS ends at the proxy, which must set X-Forwarded-Proto (and strip a client's own).
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "true").lower() == "true"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
