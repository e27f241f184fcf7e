"""Suggested targets: list an image's, accept or reject one, accept all, and run the detector (image or project).

Who may act is checked by the services (annotator+ on the image; manager+ over the project)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.apis.shared import ImageSelectionSerializer, JobOutputSerializer
from labeling.choices import SuggestionState
from labeling.selectors import image_get, project_get, suggestion_get, suggestion_list
from labeling.services.sequences import image_carry
from labeling.services.suggestions import (
    suggestion_accept,
    suggestion_reject,
    suggestions_accept_all,
    suggestions_detect_request,
)


class SuggestionOutputSerializer(Serializer):
    id = serializers.IntegerField()
    image_id = serializers.IntegerField()
    x = serializers.FloatField(help_text="pixel units; 0 is the centre of the first column")
    y = serializers.FloatField(help_text="pixel units; 0 is the centre of the first row")
    score = serializers.FloatField(help_text="the detector's contrast, in noise levels of the frame")
    source = serializers.CharField(help_text="which proposer made it: detector, or carried (from the previous frame)")
    params = serializers.JSONField(help_text="the proposer's settings; carried: track_id, from_target, sure")
    state = serializers.ChoiceField(choices=SuggestionState.choices)
    target_id = serializers.IntegerField(allow_null=True, help_text="the target it became, once accepted")
    created_at = serializers.DateTimeField()


class _AcceptedTargetSerializer(Serializer):
    id = serializers.IntegerField()
    x = serializers.FloatField()
    y = serializers.FloatField()
    version = serializers.IntegerField()


class SuggestionListApi(APIView):
    """GET an image's pending suggestions, strongest first: not labels until accepted."""

    @extend_schema(responses={200: SuggestionOutputSerializer(many=True)})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        return Response(SuggestionOutputSerializer(suggestion_list(user=request.user, image=image), many=True).data)


class SuggestionDetectImageApi(APIView):
    """POST: propose targets on this image (annotator+): 202 with the job; poll it, then list the suggestions."""

    @extend_schema(request=None, responses={202: JobOutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        job = suggestions_detect_request(project=image.project, actor=request.user, image=image)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class SuggestionCarryApi(APIView):
    """POST: carry the previous frame's targets of the sequence to this frame, each moved onto its peak here, as
    suggestions (source "carried", their track id in `params`; annotator+). Answers the frame's pending carried
    suggestions (a rerun replaces them); 400 for a frame of no sequence, 409 for a confirmed one."""

    @extend_schema(request=None, responses={200: SuggestionOutputSerializer(many=True)})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        return Response(SuggestionOutputSerializer(image_carry(image=image, actor=request.user), many=True).data)


class SuggestionAcceptAllApi(APIView):
    """POST: every pending suggestion of the image becomes a target (one mask generation)."""

    class OutputSerializer(Serializer):
        targets = _AcceptedTargetSerializer(many=True)

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        targets = suggestions_accept_all(image=image, actor=request.user)
        return Response(self.OutputSerializer({"targets": targets}).data)


class SuggestionAcceptApi(APIView):
    """POST: the suggestion becomes a target at its place (its mask is generated as for a click): 201."""

    class OutputSerializer(Serializer):
        suggestion = SuggestionOutputSerializer()
        target = _AcceptedTargetSerializer()

    @extend_schema(request=None, responses={201: OutputSerializer})
    def post(self, request: Request, suggestion_id: int) -> Response:
        suggestion = suggestion_get(user=request.user, suggestion_id=suggestion_id)
        target = suggestion_accept(suggestion=suggestion, actor=request.user)
        suggestion.refresh_from_db()
        body = self.OutputSerializer({"suggestion": suggestion, "target": target}).data
        return Response(body, status=status.HTTP_201_CREATED)


class SuggestionRejectApi(APIView):
    """POST: not a target; kept as rejected so that the detector does not propose it again."""

    @extend_schema(request=None, responses={200: SuggestionOutputSerializer})
    def post(self, request: Request, suggestion_id: int) -> Response:
        suggestion = suggestion_get(user=request.user, suggestion_id=suggestion_id)
        return Response(SuggestionOutputSerializer(suggestion_reject(suggestion=suggestion, actor=request.user)).data)


class ProjectSuggestionDetectApi(APIView):
    """POST: propose targets on the project's unconfirmed frames without points, or on `image_ids` (manager+, like
    pre-label, which regenerates masks only where points exist): 202 with the job."""

    InputSerializer = ImageSelectionSerializer

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = suggestions_detect_request(
            project=project, actor=request.user, image_ids=data.validated_data.get("image_ids")
        )
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
