"""Pieces several API modules share, so that API modules never import each other: the output serializers of jobs
and masks, and the generation payload (a click's answer: the newest generation job, waited for, and the masks)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from labeling.apis.base import Serializer
from labeling.choices import JOB_FINISHED, JobKind, JobStatus, MaskSource, MaskState
from labeling.exceptions import ApplicationError
from labeling.selectors import generation_latest, mask_list
from labeling.services.jobs import job_wait

if TYPE_CHECKING:  # a type only: APIs read and write through selectors and services
    from labeling.models import Image


class JobOutputSerializer(Serializer):
    class ErrorSerializer(Serializer):
        item = serializers.JSONField(required=False)
        message = serializers.CharField()

    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=JobKind.choices)
    status = serializers.ChoiceField(choices=JobStatus.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    message = serializers.CharField()
    errors = ErrorSerializer(many=True)
    result = serializers.DictField()
    created_by_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RleSerializer(Serializer):
    size = serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=2, max_length=2)
    counts = serializers.CharField(allow_blank=True, trim_whitespace=False, help_text="COCO compressed RLE")


class MaskOutputSerializer(Serializer):
    id = serializers.IntegerField()
    target_id = serializers.IntegerField()
    image_id = serializers.IntegerField()
    rle = serializers.SerializerMethodField()
    area = serializers.IntegerField()
    bbox = serializers.ListField(child=serializers.IntegerField(), help_text="[x, y, w, h] as COCO")
    source = serializers.ChoiceField(choices=MaskSource.choices)
    state = serializers.ChoiceField(choices=MaskState.choices)
    version = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())
    provenance = serializers.DictField()
    model_version_id = serializers.IntegerField(allow_null=True)
    edited_by_id = serializers.IntegerField(allow_null=True)
    confirmed_by_id = serializers.IntegerField(allow_null=True)
    confirmed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    @extend_schema_field(RleSerializer)
    def get_rle(self, mask) -> dict:
        return {"size": [mask.image.height, mask.image.width], "counts": mask.rle}


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


class ImageSelectionSerializer(Serializer):
    """The body of a batch job over the project (pre-label, detection, ranking): all its frames, or `image_ids`."""

    image_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=False, max_length=100_000
    )
