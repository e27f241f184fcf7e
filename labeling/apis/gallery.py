"""The review gallery: a project's targets as tiles (warnings first, then size; keyset pages) and each tile's crop PNG.

Confirm and reject go through the masks' own endpoints (targets/<id>/mask/confirm/ and reject/), so the review rules
(the separate reviewer, acknowledged warnings, version checks) are the same wherever a mask is reviewed."""

import re
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseNotModified
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import BinaryApiMixin, PngRenderer, Serializer
from labeling.choices import MaskSource, MaskState
from labeling.exceptions import ApplicationError
from labeling.selectors import GALLERY_ORDERS, gallery_targets, mask_of, project_get, target_get
from labeling.services.gallery import CROP_SIZES, crop_etag, crop_png

_AFTER = re.compile(r"([0-9]{1,2})\.([0-9]{1,10})\.([0-9]{1,19})")
_WARNING = re.compile(r"[a-z_]{1,40}")
DEFAULT_CROP_SIZE = 96


class GalleryListApi(APIView):
    """GET one page of the project's targets for review: warnings first, then size, with each mask's state, flags
    and a versioned crop URL. `next` continues after the page's last tile (keyset), whatever was reviewed meanwhile."""

    class FilterSerializer(Serializer):
        warning = serializers.CharField(
            required=False, help_text="`any`, `none`, or one warning's name (point_outside, too_large, ...)"
        )
        state = serializers.MultipleChoiceField(
            choices=[*MaskState.values, "none"], required=False, help_text="mask states; `none`: no mask yet"
        )
        annotator_id = serializers.IntegerField(
            required=False, min_value=1, help_text="targets this member placed or edited, or on frames given to them"
        )
        order = serializers.ChoiceField(choices=GALLERY_ORDERS, default="large", help_text="within a warning rank")
        after = serializers.CharField(required=False, help_text="the `next` cursor of the previous page")
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=200, default=48)
        crop_size = serializers.ChoiceField(choices=CROP_SIZES, default=DEFAULT_CROP_SIZE)

        def validate_warning(self, value: str) -> str:
            if not _WARNING.fullmatch(value):
                raise serializers.ValidationError("A warning's name: lower-case letters and underscores.")
            return value

        def validate_after(self, value: str) -> tuple[int, int, int]:
            match = _AFTER.fullmatch(value)
            if match is None:
                raise serializers.ValidationError("Pass back the `next` cursor of the previous page.")
            return tuple(int(part) for part in match.groups())

    class OutputSerializer(Serializer):
        class TileMaskSerializer(Serializer):
            id = serializers.IntegerField()
            state = serializers.ChoiceField(choices=MaskState.choices)
            source = serializers.ChoiceField(choices=MaskSource.choices)
            area = serializers.IntegerField()
            bbox = serializers.ListField(child=serializers.IntegerField())
            warnings = serializers.ListField(child=serializers.CharField())
            version = serializers.IntegerField()

        id = serializers.IntegerField(help_text="the target's id")
        image_id = serializers.IntegerField()
        image_name = serializers.CharField(source="image.original_name")
        image_status = serializers.CharField(source="image.status")
        x = serializers.FloatField()
        y = serializers.FloatField()
        rank = serializers.IntegerField(help_text="2: point_outside, 1: another warning, 0: none")
        created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
        annotators = serializers.SerializerMethodField(help_text="who submitted or was given the frame (user ids)")
        mask = serializers.SerializerMethodField()
        crop_url = serializers.SerializerMethodField()

        def get_annotators(self, target) -> list[int]:
            image = target.image
            return sorted({image.submitted_by_id, image.assigned_to_id} - {None})

        @extend_schema_field(TileMaskSerializer(allow_null=True))
        def get_mask(self, target) -> dict | None:
            # A plain dict: a nested serializer built per tile cost more than the page's query (about 1 ms a tile).
            mask = mask_of(target)
            if mask is None:
                return None
            fields = ("id", "state", "source", "area", "bbox", "warnings", "version")
            return {name: getattr(mask, name) for name in fields}

        def get_crop_url(self, target) -> str:
            size = self.context["crop_size"]
            query = urlencode({"size": size, "v": crop_etag(target, mask_of(target), size)})
            return f"{reverse('target-crop', kwargs={'target_id': target.pk})}?{query}"

    class PageSerializer(Serializer):
        count = serializers.IntegerField(allow_null=True, help_text="tiles matching the filters (first page only)")
        next = serializers.CharField(allow_null=True, help_text="`after` for the next page; null on the last")
        results = serializers.ListField(child=serializers.DictField(), help_text="GalleryListOutput tiles")

    @extend_schema(parameters=[FilterSerializer], responses={200: PageSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.FilterSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        filters = dict(serializer.validated_data)
        size, crop_size = filters.pop("page_size"), int(filters.pop("crop_size"))
        queryset = gallery_targets(user=request.user, project=project, filters=filters)
        tiles = list(queryset[: size + 1])
        last = tiles[size - 1] if len(tiles) > size else None
        data = self.OutputSerializer(tiles[:size], many=True, context={"crop_size": crop_size}).data
        # Counted on the first page only: the later ones are asked for by the same filters.
        count = None if "after" in filters else queryset.count()
        cursor = f"{last.rank}.{last.size}.{last.pk}" if last is not None else None
        return Response({"count": count, "next": cursor, "results": data})


class TargetCropApi(BinaryApiMixin, APIView):
    """GET the target's tile: a PNG of `size` pixels around its point with the mask's outline. The ETag names the
    target's and mask's versions: a cached tile is answered 304, and a URL with the current `v` may be kept."""

    renderer_classes = [PngRenderer, JSONRenderer]

    class FilterSerializer(Serializer):
        size = serializers.ChoiceField(choices=CROP_SIZES, default=DEFAULT_CROP_SIZE)
        v = serializers.CharField(required=False, max_length=40, help_text="the crop_url's version (cache key)")

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="If-None-Match names the current version"),
        },
    )
    def get(self, request: Request, target_id: int) -> HttpResponse:
        target = target_get(user=request.user, target_id=target_id)
        serializer = self.FilterSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        size = int(serializer.validated_data["size"])
        mask = mask_of(target)
        etag = crop_etag(target, mask, size)
        quoted = f'"{etag}"'
        # The tile's URL carries its version: a current one never changes, an old one must ask again.
        current = serializer.validated_data.get("v") == etag
        caching = "private, max-age=31536000, immutable" if current else "private, no-cache"
        if quoted in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponseNotModified()
        else:
            try:
                data, _ = crop_png(target, mask, size)
            except ValueError as exc:  # a stored mask that no longer decodes against its frame
                raise ApplicationError(f"Target {target.pk}'s tile cannot be drawn: {exc}.", status_code=409) from exc
            response = HttpResponse(data, content_type="image/png")
        response["ETag"] = quoted
        response["Cache-Control"] = caching
        return response
