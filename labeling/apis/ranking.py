"""Ranking for the active claim order: rank the project's unconfirmed frames (manager+, checked by the service)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.shared import ImageSelectionSerializer, JobOutputSerializer
from labeling.selectors import project_get
from labeling.services.ranking import frames_rank_request


class ProjectRankApi(APIView):
    """POST: score how unsure the generators are about every unconfirmed frame (or `image_ids`): 202 with the job.
    With `settings.claim.order` "active", "next image" then hands out the least sure frame first."""

    InputSerializer = ImageSelectionSerializer

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = frames_rank_request(project=project, actor=request.user, image_ids=data.validated_data.get("image_ids"))
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
