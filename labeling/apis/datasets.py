"""Datasets: upload a zip to import (202 + job), start an export (202 + job), download a finished export."""

from django.http import FileResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import BinaryApiMixin, Serializer
from labeling.apis.shared import JobOutputSerializer
from labeling.choices import Split
from labeling.selectors import job_get, project_get
from labeling.services.datasets import dataset_export_request, dataset_import_request, export_file
from labeling.services.datasets.exports import FORMATS


class DatasetImportApi(APIView):
    """POST multipart `file` (a zip: plain images, SIRST tree, point JSON/PNGs, COCO): a `batch` import job."""

    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(Serializer):
        file = serializers.FileField()
        confirm = serializers.BooleanField(
            required=False, default=False, help_text="imported masks become confirmed labels"
        )
        split = serializers.ChoiceField(
            choices=Split.choices, required=False, allow_null=True, help_text="for images no split list names"
        )
        gold = serializers.BooleanField(
            required=False,
            default=False,
            help_text="gold frames: the labels are kept aside to score annotators, the frames arrive unlabelled",
        )

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = dataset_import_request(
            project=project,
            upload=data["file"],
            actor=request.user,
            confirm=data["confirm"],
            split=data.get("split"),
            gold=data["gold"],
        )
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DatasetExportApi(APIView):
    """POST: a `batch` export job writing a zip (SIRST tree, COCO, instance PNGs, manifest); poll, then download."""

    class InputSerializer(Serializer):
        formats = serializers.ListField(
            child=serializers.ChoiceField(choices=FORMATS), required=False, allow_empty=False
        )
        confirmed_only = serializers.BooleanField(required=False, default=False)
        split = serializers.ChoiceField(choices=Split.choices, required=False, allow_null=True)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = dataset_export_request(
            project=project,
            actor=request.user,
            formats=data.get("formats"),
            confirmed_only=data["confirmed_only"],
            split=data.get("split"),
        )
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DatasetExportDownloadApi(BinaryApiMixin, APIView):
    """GET the zip of a succeeded export job (streamed from disk); 409 while it runs."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, job_id: int) -> FileResponse:
        job = job_get(user=request.user, job_id=job_id)
        path = export_file(job, actor=request.user)
        response = FileResponse(open(path, "rb"), content_type="application/zip")  # noqa: SIM115 - closed by Django
        response["Content-Disposition"] = content_disposition_header(True, f"project-{job.project_id}-{job.pk}.zip")
        response["X-Content-Type-Options"] = "nosniff"
        return response
