"""Request-level guards: bodies above MAX_REQUEST_BYTES (or, unless multipart, above DATA_UPLOAD_MAX_MEMORY_SIZE)
get 413 before anything reads them; a database outage answers 503 {message, extra} instead of a 500; every response
carries the Content-Security-Policy."""

import functools
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"message": "Invalid Content-Length header.", "extra": {}}, status=400)
        if length > settings.MAX_REQUEST_BYTES:
            return JsonResponse(
                {
                    "message": f"Request body of {length} bytes exceeds the {settings.MAX_REQUEST_BYTES}-byte limit.",
                    "extra": {"limit": settings.MAX_REQUEST_BYTES},
                },
                status=413,
            )
        # A JSON or urlencoded body is read into memory whole (DRF reads the stream, past Django's own check):
        # only multipart bodies, whose files go to disk, may be larger than the in-memory limit.
        memory_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        multipart = request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")
        if memory_limit is not None and length > memory_limit and not multipart:
            return JsonResponse(
                {
                    "message": f"Request body of {length} bytes exceeds the {memory_limit}-byte limit for a body "
                    "that is not a file upload (multipart/form-data).",
                    "extra": {"reason": "body_too_large", "limit": memory_limit},
                },
                status=413,
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """A view (API or page) that cannot reach the database answers 503 with Retry-After, not a 500.

    Django closes a connection that raised, and the next request opens a new one (CONN_HEALTH_CHECKS checks a
    persistent one first), so the same server process recovers by itself once the database is back.
    """

    RETRY_AFTER_S = 5

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        response = JsonResponse(
            {"message": "The database is unavailable at the moment; try again in a few seconds.", "extra": {}},
            status=503,
        )
        response["Retry-After"] = str(self.RETRY_AFTER_S)
        return response


# What third-party pages (DRF's browsable API, Swagger UI, Redoc) need beyond the policy: inline styles, never scripts.
INLINE_STYLES = {"style-src": "'self' 'unsafe-inline'"}


def csp_header(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    """Every response carries settings.CONTENT_SECURITY_POLICY (`script-src 'self'`: no inline script, no eval, no
    other origin), unless its view set its own with `csp_update`. The frontend has no inline script, handler or style
    attribute, so an injected one never runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            directives = dict(settings.CONTENT_SECURITY_POLICY)
            if getattr(getattr(response, "accepted_renderer", None), "format", None) == "api":
                directives.update(INLINE_STYLES)  # DRF's browsable API pages carry inline styles (never scripts)
            response["Content-Security-Policy"] = csp_header(directives)
        return response


def csp_update(**changes: str) -> Callable:
    """A view decorator that replaces some directives for that view only (`style_src="'self' 'unsafe-inline'"`)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            response = view(request, *args, **kwargs)
            directives = dict(settings.CONTENT_SECURITY_POLICY)
            directives.update({name.replace("_", "-"): value for name, value in changes.items()})
            response["Content-Security-Policy"] = csp_header(directives)
            return response

        return wrapped

    return decorate
