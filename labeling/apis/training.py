"""The learning loop by hand (manager+): start training or pre-labeling, promote (roll back to) or retire a version."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.apis.shared import ImageSelectionSerializer, JobOutputSerializer
from labeling.choices import GeneratorKind, ModelStatus
from labeling.selectors import model_version_get, project_get
from labeling.services.prelabel import project_prelabel_request
from labeling.services.serving import model_version_promote, model_version_retire
from labeling.services.training import model_train_request


class ModelVersionOutputSerializer(Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    number = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=GeneratorKind.choices)
    arch = serializers.CharField()
    params = serializers.DictField(help_text="cold-start settings, or the prior's settings of an EDGSP version")
    status = serializers.ChoiceField(choices=ModelStatus.choices)
    parent_id = serializers.IntegerField(allow_null=True)
    metrics = serializers.DictField()
    gate = serializers.DictField()
    n_train = serializers.IntegerField()
    n_val = serializers.IntegerField()
    seed = serializers.IntegerField(allow_null=True)
    code_revision = serializers.CharField()
    train_ids_hash = serializers.CharField()
    val_ids_hash = serializers.CharField()
    snapshot_at = serializers.DateTimeField(allow_null=True, help_text="frames confirmed after this judge it")
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)


class ModelTrainApi(APIView):
    """Start a training run now (202 with the job to poll); 409 while one is queued or running."""

    @extend_schema(request=None, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        job = model_train_request(project=project, actor=request.user)
        return Response(JobOutputSerializer(job).data, status=202)


class ModelVersionPromoteApi(APIView):
    """Serve this version now; promoting an earlier version is the one-action rollback."""

    @extend_schema(request=None, responses={200: ModelVersionOutputSerializer})
    def post(self, request: Request, version_id: int) -> Response:
        version = model_version_get(user=request.user, version_id=version_id)
        return Response(ModelVersionOutputSerializer(model_version_promote(version=version, actor=request.user)).data)


class ModelVersionRetireApi(APIView):
    """Take a version out of service (the cold start serves when no version is promoted)."""

    @extend_schema(request=None, responses={200: ModelVersionOutputSerializer})
    def post(self, request: Request, version_id: int) -> Response:
        version = model_version_get(user=request.user, version_id=version_id)
        return Response(ModelVersionOutputSerializer(model_version_retire(version=version, actor=request.user)).data)


class ProjectPrelabelApi(APIView):
    """Pre-label the project's images that still need machine masks (or a selection): 202 with the job."""

    class InputSerializer(ImageSelectionSerializer):
        include_predicted = serializers.BooleanField(
            default=True, help_text="also refresh masks that are still only predicted (e.g. after a promotion)"
        )

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = project_prelabel_request(
            project=project,
            actor=request.user,
            image_ids=data.validated_data.get("image_ids"),
            include_predicted=data.validated_data["include_predicted"],
        )
        return Response(JobOutputSerializer(job).data, status=202)
