"""Images: list (filters, keyset pages) and upload, claim, detail/update/delete, original file, pixels, workflow."""

import re

import numpy as np
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import storage
from labeling.apis.base import BinaryApiMixin, IdCursorPagination, Serializer, acknowledge_field, paginated
from labeling.choices import ImageStatus, Split
from labeling.exceptions import ApplicationError
from labeling.selectors import image_get, image_list, image_sequence_neighbours, project_get
from labeling.services import (
    image_claim,
    image_confirm,
    image_delete,
    image_reject,
    image_submit,
    image_update,
    images_upload,
)
from labeling.services.double import double_state


class RejectionSerializer(Serializer):
    comment = serializers.CharField(allow_blank=True)
    by = serializers.CharField(allow_null=True, help_text="the reviewer's user name")
    at = serializers.DateTimeField()


class ImageOutputSerializer(Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    original_name = serializers.CharField()
    format = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    dtype = serializers.CharField()
    bit_depth = serializers.IntegerField()
    channels = serializers.IntegerField()
    file_size = serializers.IntegerField()
    content_hash = serializers.CharField()
    split = serializers.ChoiceField(choices=Split.choices)
    status = serializers.ChoiceField(choices=ImageStatus.choices)
    assigned_to_id = serializers.IntegerField(allow_null=True)
    submitted_by_id = serializers.IntegerField(allow_null=True)
    last_rejection = serializers.SerializerMethodField(help_text="the last time a reviewer sent it back, or null")
    sequence = serializers.CharField(help_text="the sequence this frame belongs to ('' for a lone frame)")
    frame_index = serializers.IntegerField(allow_null=True, help_text="its place in the sequence (1-based)")
    uncertainty = serializers.FloatField(
        allow_null=True, help_text="how unsure the generators were when it was last ranked (0..1); null: not ranked"
    )
    uncertainty_detail = serializers.JSONField(
        help_text="why: parts (disagreement, warnings, unprompted, margin), n_points, points, compared, ranked_at"
    )
    double = serializers.SerializerMethodField(
        help_text="double annotation: '' (labelled once), 'second_pass' (its first pass is kept aside; it waits for "
        "a second, blind annotator) or 'labelled_twice'"
    )
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_double(self, image) -> str:
        return double_state(image)

    @extend_schema_field(RejectionSerializer(allow_null=True))
    def get_last_rejection(self, image) -> dict | None:
        if image.rejected_at is None:
            return None
        by = image.rejected_by.get_username() if image.rejected_by_id else None
        return RejectionSerializer({"comment": image.rejection_comment, "by": by, "at": image.rejected_at}).data


def _image_out(image) -> dict:
    return ImageOutputSerializer(image).data


class ImageListApi(APIView):
    """GET the project's images (filters; cursor pages by id); POST multipart `files` (one or many) to upload."""

    pagination_class = IdCursorPagination
    parser_classes = [MultiPartParser, FormParser]

    class FilterSerializer(Serializer):
        status = serializers.MultipleChoiceField(choices=ImageStatus.choices, required=False)
        split = serializers.MultipleChoiceField(choices=Split.choices, required=False)
        assigned_to = serializers.CharField(required=False, help_text="a user id, `me`, or `none` (unassigned)")
        has_targets = serializers.BooleanField(required=False, allow_null=True, default=None)
        has_warnings = serializers.BooleanField(required=False, allow_null=True, default=None)

    class OutputSerializer(ImageOutputSerializer):
        target_count = serializers.IntegerField()
        has_warnings = serializers.BooleanField()
        point_outside = serializers.BooleanField(help_text="a mask misses its own point: the reviewer must decide")

    class UploadInputSerializer(Serializer):
        files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
        split = serializers.ChoiceField(choices=Split.choices, required=False)
        sequence = serializers.CharField(
            required=False, max_length=255, help_text="the files (in name order) become this sequence's next frames"
        )

    class UploadOutputSerializer(Serializer):
        class ErrorSerializer(Serializer):
            file = serializers.CharField()
            status = serializers.IntegerField()
            message = serializers.CharField()

        created = ImageOutputSerializer(many=True)
        errors = ErrorSerializer(many=True)

    def _filters(self, request: Request) -> dict:
        serializer = self.FilterSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        filters = dict(serializer.validated_data)
        assigned = filters.pop("assigned_to", None)
        if assigned is not None:
            if assigned == "none":
                filters["assigned_to"] = None
            elif assigned == "me":
                filters["assigned_to"] = request.user.pk
            elif assigned.isascii() and assigned.isdigit():  # "²" is a digit to isdigit(), not to int()
                filters["assigned_to"] = int(assigned)
            else:
                raise ApplicationError("assigned_to must be a user id, `me` or `none`.")
        return filters

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        queryset = image_list(user=request.user, project=project, filters=self._filters(request))
        return paginated(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=queryset,
            request=request,
            view=self,
        )

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer},
        responses={
            201: UploadOutputSerializer,
            207: OpenApiResponse(UploadOutputSerializer, description="some files were refused (see `errors`)"),
            400: OpenApiResponse(description="every file was refused: {message, extra: {errors}}"),
            409: OpenApiResponse(description="every file was refused, all as duplicates"),
            413: OpenApiResponse(description="every file was refused, all too large"),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.UploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        files = [(upload.name, upload.read()) for upload in serializer.validated_data["files"]]
        created, errors = images_upload(
            project=project,
            files=files,
            actor=request.user,
            split=serializer.validated_data.get("split"),
            sequence=serializer.validated_data.get("sequence"),
        )
        if not created:
            statuses = {error["status"] for error in errors}
            message = "; ".join(error["message"] for error in errors[:5]) + ("; ..." if len(errors) > 5 else "")
            raise ApplicationError(
                f"No file was stored: {message}",
                extra={"errors": errors},
                status_code=statuses.pop() if len(statuses) == 1 else status.HTTP_400_BAD_REQUEST,
            )
        data = self.UploadOutputSerializer({"created": created, "errors": errors}).data
        return Response(data, status=status.HTTP_207_MULTI_STATUS if errors else status.HTTP_201_CREATED)


class ImageClaimApi(APIView):
    """POST: your unfinished image, else the next unassigned one (404 when none is left)."""

    @extend_schema(request=None, responses={200: ImageOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        return Response(_image_out(image_claim(project=project, actor=request.user)))


class ImageDetailApi(APIView):
    class UpdateInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=1)
        split = serializers.ChoiceField(choices=Split.choices, required=False)

    class DetailOutputSerializer(ImageOutputSerializer):
        class NeighboursSerializer(Serializer):
            previous_id = serializers.IntegerField(allow_null=True)
            next_id = serializers.IntegerField(allow_null=True)
            length = serializers.IntegerField()

        sequence_frames = NeighboursSerializer(help_text="the frames before and after this one in its sequence")

    @extend_schema(responses={200: DetailOutputSerializer})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        image.sequence_frames = image_sequence_neighbours(image=image)
        return Response(self.DetailOutputSerializer(image).data)

    @extend_schema(request=UpdateInputSerializer, responses={200: ImageOutputSerializer})
    def patch(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(_image_out(image_update(image=image, actor=request.user, **serializer.validated_data)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        image_delete(image=image, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _download_name(image) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", image.original_name.rsplit(".", 1)[0]).strip("._") or f"image-{image.pk}"
    suffix = {"PNG": "png", "TIFF": "tif", "JPEG": "jpg", "BMP": "bmp"}[image.format]
    return f"{stem[:100]}.{suffix}"


class ImageFileApi(BinaryApiMixin, APIView):
    """GET the original bytes, exactly as uploaded."""

    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, image_id: int) -> HttpResponse:
        image = image_get(user=request.user, image_id=image_id)
        response = HttpResponse(storage.read_original(image), content_type=storage.CONTENT_TYPES[image.format])
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = content_disposition_header(True, _download_name(image))
        return response


class ImagePixelsApi(BinaryApiMixin, APIView):
    """GET the luminance pixels at full bit depth: raw little-endian row-major (default) or `?format=png`."""

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["raw", "png"], description="raw (default) or png")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, (200, "image/png"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, image_id: int) -> HttpResponse:
        image = image_get(user=request.user, image_id=image_id)
        pixels = storage.read_pixels(image)
        if self.wants_png(request):
            response = HttpResponse(storage.pixels_png_encode(pixels), content_type="image/png")
        else:
            little_endian = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False)
            response = HttpResponse(
                np.ascontiguousarray(little_endian).tobytes(), content_type="application/octet-stream"
            )
        response["X-Image-Width"] = str(pixels.shape[1])
        response["X-Image-Height"] = str(pixels.shape[0])
        response["X-Image-Dtype"] = str(pixels.dtype)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        return response


class _WorkflowInputSerializer(Serializer):
    version = serializers.IntegerField(min_value=1, required=False, help_text="the image version you saw")


class ImageSubmitApi(APIView):
    @extend_schema(request=_WorkflowInputSerializer, responses={200: ImageOutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        serializer = _WorkflowInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(_image_out(image_submit(image=image, actor=request.user, **serializer.validated_data)))


class ImageConfirmApi(APIView):
    class InputSerializer(_WorkflowInputSerializer):
        acknowledge = acknowledge_field()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: ImageOutputSerializer,
            403: OpenApiResponse(description="you annotated it and the project wants another reviewer"),
            409: OpenApiResponse(description="stale version, rejected masks, or warnings to acknowledge"),
        },
    )
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(_image_out(image_confirm(image=image, actor=request.user, **serializer.validated_data)))


class ImageRejectApi(APIView):
    class InputSerializer(_WorkflowInputSerializer):
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=InputSerializer, responses={200: ImageOutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(_image_out(image_reject(image=image, actor=request.user, **serializer.validated_data)))
