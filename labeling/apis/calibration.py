"""Cold-start calibration of a project: its current figures (viewer) and a new run (manager)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.apis.shared import JobOutputSerializer
from labeling.selectors import project_get
from labeling.services.calibration import calibration_status, project_calibration_request


class CalibrationStatusOutputSerializer(Serializer):
    confirmed_images = serializers.IntegerField()
    minimum = serializers.IntegerField(help_text="confirmed images needed before calibrating")
    due = serializers.BooleanField(help_text="the loop's schedule calls for a (new) calibration")
    next_at = serializers.IntegerField(help_text="confirmed frames at which the next calibration runs")
    current = serializers.DictField(allow_null=True, help_text="alpha, use_grabcut, size_rule, figures, table")


class ProjectCalibrationApi(APIView):
    class InputSerializer(Serializer):
        promote = serializers.BooleanField(
            default=False, help_text="serve the calibrated cold start at once instead of judging it in shadow first"
        )
        regenerate = serializers.BooleanField(
            default=False, help_text="with promote: then re-make the unreviewed predicted masks"
        )

    @extend_schema(responses={200: CalibrationStatusOutputSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        return Response(CalibrationStatusOutputSerializer(calibration_status(project)).data)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = project_calibration_request(project=project, actor=request.user, **serializer.validated_data)
        return Response(JobOutputSerializer(job).data, status=202)
