"""Every setting, driven by the environment; the defaults run embedded (SQLite, filesystem broker)."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("DJANGO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Core ---------------------------------------------------------------------------------------
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-insecure-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "labeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "labeling.middleware.DatabaseUnavailableMiddleware",  # a database outage: 503 {message}, not a 500
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MIDDLEWARE.insert(1, "labeling.middleware.ContentSecurityPolicyMiddleware")

# Content-Security-Policy of every response (labeling.middleware): scripts only from this origin, never inline
# or eval'd, so an injected <script> or onclick= never runs; no inline style attributes either. The API docs'
# views (webapp.urls) also allow inline styles, which Swagger UI and Redoc inject.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded mode has a web server and a worker writing at once: wait for locks, write-ahead log.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# --- Cache --------------------------------------------------------------------------------------
# Login throttling counts attempts here, so every web process must see the same cache: Redis from
# DJANGO_CACHE_URL (or REDIS_URL); without one, a file cache under var/ that the embedded mode's workers share.
REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"


def cache_from_url(url: str) -> dict:
    """A CACHES entry: Redis for redis://, rediss:// and unix:// URLs, else a file cache under var/."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        # A hung Redis costs a request seconds, not a hang (sign-in then counts in the process, login_attempts).
        timeouts = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        return {"BACKEND": REDIS_CACHE_BACKEND, "LOCATION": url, "KEY_PREFIX": "irlabel", "OPTIONS": timeouts}
    return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}


CACHES = {"default": cache_from_url(os.environ.get("DJANGO_CACHE_URL") or os.environ.get("REDIS_URL", ""))}

# --- Auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    # Not a rule: ends the user's API tokens whenever a new password is saved (labeling.services.tokens).
    {"NAME": "labeling.services.tokens.RevokeTokensOnPasswordChange"},
]
# An API token's lifetime in hours (0: until the password changes); an expired token answers 401.
API_TOKEN_TTL_HOURS = float(os.environ.get("DJANGO_API_TOKEN_TTL_HOURS", "0"))
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# How long an invitation's or a password reset's one-time link opens (labeling.services.users); default 3 days.
PASSWORD_RESET_TIMEOUT = int(os.environ.get("DJANGO_ACCOUNT_LINK_TIMEOUT_S", str(3 * 24 * 3600)))
# Failed sign-ins (token API and login form) per client address and per user name within the window; past the
# limit every attempt, even a right one, answers 429 until the window ends (labeling.services.login_attempts).
LOGIN_FAILURE_LIMIT = int(os.environ.get("DJANGO_LOGIN_FAILURE_LIMIT", "10"))
LOGIN_FAILURE_WINDOW_S = int(os.environ.get("DJANGO_LOGIN_FAILURE_WINDOW_S", "60"))

# --- I18N ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [("frontend", BASE_DIR / "frontend")]
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: originals go through the permission-checked API
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Uploads ------------------------------------------------------------------------------------
# Bodies above this are refused with 413 (labeling.middleware); large datasets go through importimages.
MAX_REQUEST_BYTES = int(os.environ.get("DJANGO_MAX_REQUEST_BYTES", str(512 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", str(64 * 1024 * 1024)))
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
IMAGE_MAX_PIXELS = int(os.environ.get("LABELING_IMAGE_MAX_PIXELS", str(8192 * 8192)))
IMAGE_MAX_SIDE = int(os.environ.get("LABELING_IMAGE_MAX_SIDE", "16384"))
# A multi-page TIFF becomes one image per page (in page order); more pages than this refuse the file (413).
IMAGE_MAX_PAGES = int(os.environ.get("LABELING_IMAGE_MAX_PAGES", "1000"))
MIDDLEWARE.insert(1, "labeling.middleware.RequestSizeLimitMiddleware")

# --- Datasets (import and export) ------------------------------------------------------------------
# Limits on an imported archive or folder: more files or more bytes refuse the whole source; a member
# expanding more than DATASET_MAX_RATIO times (when over DATASET_RATIO_MIN_BYTES) is skipped as a zip bomb.
DATASET_MAX_MEMBERS = int(os.environ.get("LABELING_DATASET_MAX_MEMBERS", "50000"))
DATASET_MAX_TOTAL_BYTES = int(os.environ.get("LABELING_DATASET_MAX_TOTAL_BYTES", str(20 * 1024**3)))
DATASET_MAX_MEMBER_BYTES = int(os.environ.get("LABELING_DATASET_MAX_MEMBER_BYTES", str(512 * 1024**2)))
DATASET_MAX_RATIO = float(os.environ.get("LABELING_DATASET_MAX_RATIO", "200"))
DATASET_RATIO_MIN_BYTES = int(os.environ.get("LABELING_DATASET_RATIO_MIN_BYTES", str(1024**2)))

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labeling.apis.authentication.ExpiringTokenAuthentication",  # first: anonymous -> 401, WWW-Authenticate
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [  # DRF's three, with a JSON parser that answers 400 to JSON nested too deeply
        "labeling.apis.base.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "webapp.exception_handler.api_exception_handler",
    # A coarse cap on token-login requests per client address; failed attempts have their own, tighter limit.
    "DEFAULT_THROTTLE_RATES": {"login": os.environ.get("DJANGO_LOGIN_RATE", "60/min")},
    # Proxies in front of gunicorn (throttles take the client address from the proxies' X-Forwarded-For entry).
    # 0, not DRF's None: None trusts a client's own X-Forwarded-For, a fresh allowance per forged header.
    "NUM_PROXIES": int(os.environ.get("DJANGO_NUM_PROXIES", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IR small-target labeling API",
    "DESCRIPTION": "Projects, images, point targets, masks, model versions and jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several choice sets share the field name "status": name each enum after its TextChoices.
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "labeling.choices.ImageStatus",
        "JobStatusEnum": "labeling.choices.JobStatus",
        "ModelStatusEnum": "labeling.choices.ModelStatus",
        "MaskStateEnum": "labeling.choices.MaskState",
        "GeneratorKindEnum": "labeling.choices.GeneratorKind",
        "JobKindEnum": "labeling.choices.JobKind",
    },
}

# --- Celery -------------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport needs no server; production sets a Redis URL.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "polling_interval": 0.02,  # seconds between queue scans: clicks must not wait a second
    }
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
# Redis redelivers a task whose worker died (acks_late) once it has been unacked this long: longer than the
# longest hard time limit (training), or a live long task would be delivered twice.
REDIS_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "4000")),
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "10")),
    # A hung or partitioned Redis must not hang a web request: without these a publish waits forever on its socket.
    # Workers drop socket_timeout (webapp/celery.py): with kombu 5.7 a timed-out ack wedges a worker for good.
    "socket_timeout": float(os.environ.get("CELERY_REDIS_SOCKET_TIMEOUT", "2")),
    "socket_connect_timeout": float(os.environ.get("CELERY_REDIS_SOCKET_TIMEOUT", "2")),
}
# One reconnect-and-retry per publish (it heals a connection Redis dropped); a broker still down after that fails the
# job with a message (labeling.services.jobs.job_send): a hung broker costs a save ~3 socket timeouts (~6 s).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
if CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_TRANSPORT_OPTIONS
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "batch"
# Each task's queue (and limits) is its row in labeling/job_kinds.py; anything else goes to the default queue.
CELERY_TASK_ROUTES = ("labeling.job_kinds.route_task",)
# A worker's visibility timeout is the longest of its queues' (webapp.celery): longer than the queue's longest hard
# time limit, so a live task is never delivered twice (batch: exports, 3 h; train: 65 min; loop: 11 min; interactive:
# 1 min). A dead worker's work comes back sooner through the orphaned-job sweep below. CELERY_VISIBILITY_TIMEOUT,
# when set, applies to every queue.
_VISIBILITY = os.environ.get("CELERY_VISIBILITY_TIMEOUT")
QUEUE_VISIBILITY_TIMEOUT_S = {
    queue: int(_VISIBILITY) if _VISIBILITY else seconds
    for queue, seconds in {"interactive": 300, "loop": 900, "train": 4200, "batch": 11400}.items()
}
# A queued or running job with no progress for this long, that no live worker runs and none of whose messages
# waits in a queue, has lost its work: beat's sweep re-sends it (twice at most), then fails it with a message.
JOB_STALE_AFTER_S = int(os.environ.get("LABELING_JOB_STALE_S", "600"))
# The learning loop reacts to each confirmation at once; every few minutes beat also scores frames whose scoring
# was lost, lets candidates catch up and starts what is due (services.loop).
CELERY_BEAT_SCHEDULE = {
    "projects-loop-check": {
        "task": "labeling.tasks.projects_loop_check",
        "schedule": float(os.environ.get("LABELING_RETRAIN_CHECK_S", "300")),
    },
    "jobs-sweep": {  # orphaned jobs (labeling.services.job_sweep)
        "task": "labeling.tasks.jobs_sweep",
        "schedule": float(os.environ.get("LABELING_JOB_SWEEP_S", "120")),
    },
}
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "1800"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "2100"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Interactive generation: how long a target change's request waits for the worker's masks (seconds).
GENERATION_WAIT_S = float(os.environ.get("LABELING_GENERATION_WAIT_S", "1.0"))

# --- ML -----------------------------------------------------------------------------------------
EDGSP_DEVICE = os.environ.get("EDGSP_DEVICE", "auto")  # auto: CUDA when the worker has it
EDGSP_WEIGHTS = os.environ.get("EDGSP_WEIGHTS", "")  # empty: the weights shipped in ml/weights/
EDGSP_TORCH_THREADS = int(os.environ.get("EDGSP_TORCH_THREADS", "1"))

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
