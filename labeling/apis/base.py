"""Shared API pieces: self-naming serializers, keyset pagination, binary renderers (role checks are the services')."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import parsers, serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response


class Serializer(serializers.Serializer):
    """Names its OpenAPI component after where it is nested (ImageListApi.OutputSerializer -> ImageListOutput),
    so the many nested InputSerializer/OutputSerializer classes never collide in the schema."""

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "Meta" not in cls.__dict__:
            name = re.sub(r"(Api|Serializer)", "", cls.__qualname__.replace(".", ""))
            cls.Meta = type("Meta", (), {"ref_name": name})


_INTEGER = re.compile(r"-?[0-9]{1,19}")


class JSONParser(parsers.JSONParser):
    """DRF's, but a body nested deeper than Python's recursion limit is a 400 like any malformed JSON: json.loads
    raises RecursionError for it, which DRF does not catch (`[` * 100000 answered 500 on every JSON endpoint)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc


class JSONField(serializers.JSONField):
    """DRF's, but a form field holding JSON nested too deeply is a validation error, not a RecursionError (500)."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except RecursionError:
            self.fail("invalid")


class NumberField(serializers.FloatField):
    """DRF's FloatField, minus booleans: JSON `true` is the int 1 to Python and DRF's float() took it as 1.0, so a
    point sent as {"x": true} landed at x = 1. Numbers, and numbers in form fields ("7.5"), are still accepted."""

    default_error_messages = {"boolean": "A number is required, not a boolean."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("boolean")
        return super().to_internal_value(data)


class IdCursorPagination(CursorPagination):
    """Keyset pagination on id: every page is one index range scan, however deep (fast at 100k images)."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF trusts the position inside the (client-held, base64) cursor and filters `id__gt` with it: a forged
        `p=abc` would reach the ORM and fail there (500). The position of an id ordering is an integer: 404 else."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not _INTEGER.fullmatch(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


class NewestFirstPagination(IdCursorPagination):
    ordering = "-id"


def paginated(
    *, pagination_class: type, serializer_class: type, queryset: Any, request: Request, view: Any
) -> Response:
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class PngRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data


class OctetStreamRenderer(PngRenderer):
    media_type = "application/octet-stream"
    format = "raw"


class AnyMediaRenderer(PngRenderer):
    media_type = "*/*"
    format = "file"


class BinaryApiMixin:
    """For views that answer bytes: errors still render as JSON {message, extra}."""

    renderer_classes = [JSONRenderer, OctetStreamRenderer, PngRenderer, AnyMediaRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        if request.method != "GET":  # writes answer JSON whatever the Accept header says
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    def wants_png(self, request: Request) -> bool:
        return request.query_params.get("format") == "png" or request.accepted_renderer.format == "png"

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def acknowledge_field() -> serializers.ListField:
    """The `acknowledge` list a reviewer sends to confirm despite blocking warnings (image and mask confirm)."""
    from labeling.services.mask_checks import BLOCKING_WARNINGS

    return serializers.ListField(
        child=serializers.ChoiceField(choices=BLOCKING_WARNINGS),
        required=False,
        max_length=len(BLOCKING_WARNINGS),
        help_text="warnings you looked at and accept (without it, a mask with point_outside answers 409)",
    )
