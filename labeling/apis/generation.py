"""Interactive generation: the image's newest mask-generation job and, once it is done, the masks it made."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer, require
from labeling.apis.jobs import JobOutputSerializer
from labeling.apis.masks import MaskOutputSerializer
from labeling.choices import JOB_FINISHED
from labeling.exceptions import ApplicationError
from labeling.permissions import ANNOTATE
from labeling.selectors import generation_latest, image_get, mask_list
from labeling.services.generation import image_generate_request
from labeling.services.jobs import job_wait

if TYPE_CHECKING:  # a type only: APIs read and write through selectors and services
    from labeling.models import Image

WAIT_PARAMETER = OpenApiParameter(
    "wait",
    float,
    description="seconds to wait for the worker (0 to 5; default GENERATION_WAIT_S); on timeout poll jobs/{id}/",
)


class GenerationOutputSerializer(Serializer):
    job = JobOutputSerializer(allow_null=True)
    done = serializers.BooleanField(help_text="true: `masks` are the image's current masks")
    masks = MaskOutputSerializer(many=True, allow_null=True)
    waited_ms = serializers.FloatField()


def wait_seconds(request: Request) -> float:
    """The `wait` query parameter, bounded so no request blocks for long."""
    raw = request.query_params.get("wait")
    if raw is None:
        return settings.GENERATION_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 5:
        raise ApplicationError("wait must be a number of seconds between 0 and 5.", extra={"wait": raw})
    return value


def generation_payload(request: Request, image: Image, wait: float) -> dict:
    """Wait (bounded) for the image's newest generation job; include the masks when it has finished."""
    started = time.perf_counter()
    job = generation_latest(user=request.user, image=image)
    if job is not None:
        job = job_wait(job, wait)
    done = job is None or job.status in JOB_FINISHED
    masks = None
    if done:
        masks = list(mask_list(user=request.user, image=image))
        for mask in masks:
            mask.image = image
    return GenerationOutputSerializer(
        {"job": job, "done": done, "masks": masks, "waited_ms": (time.perf_counter() - started) * 1000}
    ).data


class ImageGenerationApi(APIView):
    """GET the newest generation job (waiting up to `wait` s) and the masks; POST asks for a regeneration."""

    @extend_schema(parameters=[WAIT_PARAMETER], responses={200: GenerationOutputSerializer})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        return Response(generation_payload(request, image, wait_seconds(request)))

    @extend_schema(request=None, parameters=[WAIT_PARAMETER], responses={202: GenerationOutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        require(request, image.project, ANNOTATE, "regenerate masks")
        wait = wait_seconds(request)
        image_generate_request(image=image, actor=request.user)
        return Response(generation_payload(request, image, wait), status=202)
