"""Jobs: list a project's, poll one (status, progress 0-100, errors), cancel one (manager+)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import NewestFirstPagination, Serializer, paginated
from labeling.apis.shared import JobOutputSerializer
from labeling.choices import JobKind, JobStatus
from labeling.selectors import job_get, job_list, project_get
from labeling.services import job_cancel


class JobListApi(APIView):
    pagination_class = NewestFirstPagination

    class FilterSerializer(Serializer):
        status = serializers.MultipleChoiceField(choices=JobStatus.choices, required=False)
        kind = serializers.MultipleChoiceField(choices=JobKind.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses={200: JobOutputSerializer(many=True)})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated(
            pagination_class=self.pagination_class,
            serializer_class=JobOutputSerializer,
            queryset=job_list(user=request.user, project=project, filters=filters.validated_data),
            request=request,
            view=self,
        )


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOutputSerializer})
    def get(self, request: Request, job_id: int) -> Response:
        return Response(JobOutputSerializer(job_get(user=request.user, job_id=job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobOutputSerializer})
    def post(self, request: Request, job_id: int) -> Response:
        job = job_get(user=request.user, job_id=job_id)
        return Response(JobOutputSerializer(job_cancel(job=job, actor=request.user)).data)
