"""Model versions of a project (and the shipped base ones), and the project's audit log (manager+)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import NewestFirstPagination, Serializer, paginated
from labeling.choices import GeneratorKind, ModelStatus
from labeling.selectors import audit_list, model_version_list, project_get


class ModelVersionListApi(APIView):
    class OutputSerializer(Serializer):
        id = serializers.IntegerField()
        project_id = serializers.IntegerField(allow_null=True, help_text="null for a shipped base model")
        number = serializers.IntegerField()
        kind = serializers.ChoiceField(choices=GeneratorKind.choices)
        arch = serializers.CharField()
        params = serializers.DictField(help_text="cold-start settings, or the prior's settings of an EDGSP version")
        status = serializers.ChoiceField(choices=ModelStatus.choices)
        parent_id = serializers.IntegerField(allow_null=True)
        metrics = serializers.DictField()
        gate = serializers.DictField(help_text="the shadow record against the serving generator and the decision")
        n_train = serializers.IntegerField()
        n_val = serializers.IntegerField()
        curve = serializers.ListField(child=serializers.JSONField())
        data_hash = serializers.CharField()
        snapshot_at = serializers.DateTimeField(allow_null=True, help_text="frames confirmed after this judge it")
        created_at = serializers.DateTimeField()
        promoted_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        models = model_version_list(user=request.user, project=project)
        return Response(self.OutputSerializer(models, many=True).data)


class AuditListApi(APIView):
    pagination_class = NewestFirstPagination

    class OutputSerializer(Serializer):
        id = serializers.IntegerField()
        actor_id = serializers.IntegerField(allow_null=True)
        actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
        action = serializers.CharField()
        object_type = serializers.CharField()
        object_id = serializers.CharField()
        data = serializers.DictField()
        created_at = serializers.DateTimeField()

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        return paginated(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=audit_list(user=request.user, project=project),
            request=request,
            view=self,
        )
