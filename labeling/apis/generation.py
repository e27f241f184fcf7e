"""Interactive generation: the image's newest mask-generation job and, once it is done, the masks it made."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.shared import (
    WAIT_PARAMETER,
    GenerationOutputSerializer,
    generation_payload,
    wait_seconds,
)
from labeling.selectors import image_get
from labeling.services.generation import image_regenerate


class ImageGenerationApi(APIView):
    """GET the newest generation job (waiting up to `wait` s) and the masks; POST asks for a regeneration."""

    @extend_schema(parameters=[WAIT_PARAMETER], responses={200: GenerationOutputSerializer})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        return Response(generation_payload(request, image, wait_seconds(request)))

    @extend_schema(request=None, parameters=[WAIT_PARAMETER], responses={202: GenerationOutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        wait = wait_seconds(request)
        image_regenerate(image=image, actor=request.user)
        return Response(generation_payload(request, image, wait), status=202)
