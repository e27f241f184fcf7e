"""Masks: all masks of an image, one target's mask (JSON RLE or PNG), its replacement, confirm and reject."""

import base64
import binascii

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import storage
from labeling.apis.base import BinaryApiMixin, PngRenderer, Serializer, acknowledge_field
from labeling.apis.shared import MaskOutputSerializer, RleSerializer
from labeling.exceptions import ApplicationError
from labeling.selectors import image_get, mask_list, mask_of, target_get
from labeling.services import mask_confirm, mask_reject, mask_replace


class ImageMasksApi(APIView):
    """GET every mask of the image (RLE)."""

    @extend_schema(responses={200: MaskOutputSerializer(many=True)})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        masks = list(mask_list(user=request.user, image=image))
        for mask in masks:
            mask.image = image  # one image for all: no query per mask for its size
        return Response(MaskOutputSerializer(masks, many=True).data)


def _mask_or_404(target):
    mask = mask_of(target)
    if mask is None:
        raise ApplicationError(f"Target {target.pk} has no mask yet.", extra={"target_id": target.pk}, status_code=404)
    mask.image = target.image
    return mask


class TargetMaskApi(BinaryApiMixin, APIView):
    """GET the mask (JSON with RLE, or `?format=png`); PUT a human edit as RLE or base64 PNG (version-checked)."""

    renderer_classes = [JSONRenderer, PngRenderer]

    class ReplaceInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=0, help_text="the mask version you saw (0: it had none)")
        rle = RleSerializer(required=False)
        png = serializers.CharField(required=False, help_text="base64 of a grey PNG, non-zero = mask")

        def validate(self, attrs: dict) -> dict:
            if ("rle" in attrs) == ("png" in attrs):
                raise serializers.ValidationError("Send exactly one of rle or png.")
            return attrs

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "png"], description="json (default) or png")],
        responses={
            (200, "application/json"): MaskOutputSerializer,
            (200, "image/png"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="no such target, or it has no mask yet"),
        },
    )
    def get(self, request: Request, target_id: int) -> Response | HttpResponse:
        mask = _mask_or_404(target_get(user=request.user, target_id=target_id))
        if self.wants_png(request):
            raster = storage.mask_decode(mask.rle, mask.image.height, mask.image.width)
            response = HttpResponse(storage.mask_png_encode(raster), content_type="image/png")
            response["X-Mask-Version"] = str(mask.version)
            return response
        return Response(MaskOutputSerializer(mask).data)

    @extend_schema(request=ReplaceInputSerializer, responses={(200, "application/json"): MaskOutputSerializer})
    def put(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        image = target.image
        serializer = self.ReplaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            if "rle" in data:
                height, width = data["rle"]["size"]
                if (height, width) != (image.height, image.width):
                    raise ValueError(f"the mask is {height}x{width} (h x w), the image is {image.height}x{image.width}")
                raster = storage.mask_decode(data["rle"]["counts"], height, width)
            else:
                png = base64.b64decode(data["png"], validate=True)
                raster = storage.mask_png_decode(png, image.height, image.width)
        except (ValueError, binascii.Error) as exc:
            raise ApplicationError(
                f"Invalid mask for target {target.pk}: {exc}.", extra={"expected_size": [image.height, image.width]}
            ) from exc
        mask = mask_replace(target=target, raster=raster, version=data["version"], actor=request.user)
        mask.image = image
        return Response(MaskOutputSerializer(mask).data)


class _ReviewInputSerializer(Serializer):
    version = serializers.IntegerField(min_value=1, required=False, help_text="the mask version you saw")


class MaskConfirmApi(APIView):
    class InputSerializer(_ReviewInputSerializer):
        acknowledge = acknowledge_field()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: MaskOutputSerializer,
            403: OpenApiResponse(description="you annotated its image and the project wants another reviewer"),
            409: OpenApiResponse(description="stale version, or warnings to acknowledge"),
        },
    )
    def post(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        mask = _mask_or_404(target)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mask = mask_confirm(mask=mask, actor=request.user, **serializer.validated_data)
        mask.image = target.image
        return Response(MaskOutputSerializer(mask).data)


class MaskRejectApi(APIView):
    class InputSerializer(_ReviewInputSerializer):
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=InputSerializer, responses={200: MaskOutputSerializer})
    def post(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        mask = _mask_or_404(target)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mask = mask_reject(mask=mask, actor=request.user, **serializer.validated_data)
        mask.image = target.image
        return Response(MaskOutputSerializer(mask).data)
