"""Refuses request bodies above MAX_REQUEST_BYTES with 413 before anything reads them."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


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
        return self.get_response(request)
