"""Projects: list/create, and get/update/delete one (settings version-checked)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import JSONField, Serializer
from labeling.selectors import project_get, project_list, project_stats
from labeling.services import project_create, project_delete, project_settings, project_update
from labeling.services.projects import PROJECT_DESCRIPTION_MAX_CHARS
from labeling.services.review_policy import separate_reviewer


class ProjectOutputSerializer(Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    settings = serializers.SerializerMethodField()
    role = serializers.CharField(source="user_role")
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_settings(self, project) -> dict:
        return project_settings(project)


class ProjectListApi(APIView):
    """GET the projects you are a member of; POST a new one (you become its owner)."""

    class CreateInputSerializer(Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=PROJECT_DESCRIPTION_MAX_CHARS
        )
        settings = JSONField(required=False, default=dict)

    @extend_schema(responses={200: ProjectOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ProjectOutputSerializer(project_list(user=request.user), many=True).data)

    @extend_schema(request=CreateInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(actor=request.user, **serializer.validated_data)
        project = project_get(user=request.user, project_id=project.pk)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    """GET a project (with image counts per status); PATCH it (manager+, version-checked); DELETE it (owner)."""

    class OutputSerializer(ProjectOutputSerializer):
        image_counts = serializers.DictField(child=serializers.IntegerField())
        separate_reviewer = serializers.SerializerMethodField(
            help_text="whether the reviewer != annotator rule is in force now (settings.review.separate_reviewer, "
            "or automatic: on with more than one reviewer-or-above member)"
        )

        def get_separate_reviewer(self, project) -> bool:
            return separate_reviewer(project)

    class UpdateInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=1)
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True, max_length=PROJECT_DESCRIPTION_MAX_CHARS)
        settings = JSONField(required=False)

    def _output(self, request: Request, project) -> dict:
        project.image_counts = project_stats(user=request.user, project=project)
        return self.OutputSerializer(project).data

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        return Response(self._output(request, project_get(user=request.user, project_id=project_id)))

    @extend_schema(request=UpdateInputSerializer, responses={200: OutputSerializer})
    def patch(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project_update(project=project, actor=request.user, **serializer.validated_data)
        return Response(self._output(request, project_get(user=request.user, project_id=project_id)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        project_delete(project=project, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
