"""Every API error body is {message, extra}: the DRF exception handler for errors inside API views, and Django's
error views (handler400/403/404/500) for those outside them, which answer JSON under /api/ and HTML elsewhere."""

from typing import Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from labeling.exceptions import ApplicationError

API_PREFIX = "/api/"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, SuspiciousOperation):  # the request limits, read while parsing the body
        status, message, extra = suspicious_request_error(exc)
        return Response({"message": message, "extra": extra}, status=status)
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"message": _first_message(response.data), "extra": {"fields": response.data}}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {"message": str(detail), "extra": {}}
    return response


# Django's request limits: (setting, reason, message with {limit}); each answers 413 naming its limit.
_REQUEST_LIMITS: tuple[tuple[type[Exception], str, str, str], ...] = (
    (
        TooManyFilesSent,
        "DATA_UPLOAD_MAX_NUMBER_FILES",
        "too_many_files",
        "Too many files in one request (at most {limit}); send them in several requests.",
    ),
    (
        TooManyFieldsSent,
        "DATA_UPLOAD_MAX_NUMBER_FIELDS",
        "too_many_fields",
        "Too many form fields in one request (at most {limit}).",
    ),
    (
        RequestDataTooBig,
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "body_too_large",
        "The request's fields exceed the {limit}-byte limit (files may be larger, as file parts).",
    ),
)


def suspicious_request_error(exc: Exception) -> tuple[int, str, dict[str, Any]]:
    """(status, message, extra) for Django's request limits (413, naming the limit) and other refused requests."""
    for kind, setting, reason, message in _REQUEST_LIMITS:
        if isinstance(exc, kind):
            limit = getattr(settings, setting)
            return 413, message.format(limit=limit), {"reason": reason, "limit": limit}
    return 400, "The request was refused as malformed or unsafe.", {"reason": "bad_request"}


def _first_message(data: Any) -> str:
    """A human sentence from DRF's nested error structure (the first leaf, prefixed by its field)."""
    if isinstance(data, dict):
        for key, value in data.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data) if data else "Invalid input."


# --- Django's error views (webapp.urls handler400/403/404/500) -------------------------------------------
def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    status, message, extra = suspicious_request_error(exception)
    return JsonResponse({"message": message, "extra": extra}, status=status)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"message": "You do not have permission to perform this action.", "extra": {}}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"message": f"No API endpoint at {request.path}.", "extra": {"path": request.path}}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    message = "The server failed on this request (the error is logged); try again, or tell an administrator."
    return JsonResponse({"message": message, "extra": {}}, status=500)
