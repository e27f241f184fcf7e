"""Request-level guards: bodies above MAX_REQUEST_BYTES (or, unless multipart, above DATA_UPLOAD_MAX_MEMORY_SIZE)
get 413 before anything reads them; a database outage answers 503 {message, extra} instead of a 500."""

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
