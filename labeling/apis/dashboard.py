"""Project dashboard: image counts by status, per annotator, mask counts by state, and the quality of the masks the
team received (viewer+)."""

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.models import Mask, Target
from labeling.selectors import image_list, project_get, project_quality, project_stats
from labeling.services.loop import loop_status


class ProjectStatsApi(APIView):
    """GET the numbers the dashboard shows; one grouped query each, whatever the project size."""

    class OutputSerializer(Serializer):
        class AnnotatorSerializer(Serializer):
            user_id = serializers.IntegerField(allow_null=True)
            username = serializers.CharField(allow_null=True)
            counts = serializers.DictField(child=serializers.IntegerField())
            total = serializers.IntegerField()

        by_status = serializers.DictField(child=serializers.IntegerField())
        by_annotator = AnnotatorSerializer(many=True)
        masks_by_state = serializers.DictField(child=serializers.IntegerField())
        images = serializers.IntegerField()
        targets = serializers.IntegerField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        by_status = project_stats(user=request.user, project=project)
        images = image_list(user=request.user, project=project).order_by()
        rows = images.values("assigned_to_id", "assigned_to__username", "status").annotate(n=Count("id"))
        annotators: dict = {}
        for row in rows:
            key = row["assigned_to_id"]
            entry = annotators.setdefault(
                key, {"user_id": key, "username": row["assigned_to__username"], "counts": {}, "total": 0}
            )
            entry["counts"][row["status"]] = row["n"]
            entry["total"] += row["n"]
        # Masks hang off images the selector already scoped to this member's project.
        mask_rows = Mask.objects.filter(image__in=images.values("id")).values("state").annotate(n=Count("id"))
        masks_by_state = {row["state"]: row["n"] for row in mask_rows.order_by()}
        data = {
            "by_status": by_status,
            "by_annotator": sorted(annotators.values(), key=lambda a: (a["username"] is None, a["username"] or "")),
            "masks_by_state": masks_by_state,
            "images": sum(by_status.values()),
            "targets": Target.objects.filter(image__in=images.values("id")).count(),
        }
        return Response(self.OutputSerializer(data).data)


class ProjectQualityApi(APIView):
    """GET the learning loop's record: the quality of the masks the team was shown, frame by frame in the order
    they were confirmed (test-then-train: each frame scored before anything learned from it), which generator
    served when, the loop's decisions, and when calibration and fine-tuning run next."""

    class OutputSerializer(Serializer):
        class FrameSerializer(Serializer):
            frame = serializers.IntegerField(help_text="frames confirmed up to this point (1-based)")
            image_id = serializers.IntegerField()
            iou = serializers.FloatField(allow_null=True, help_text="shown IoU in % (pooled over the bin)")
            generator = serializers.CharField()
            key = serializers.CharField()
            missed = serializers.IntegerField()
            false = serializers.IntegerField()
            merged = serializers.IntegerField()

        class EventSerializer(Serializer):
            action = serializers.CharField()
            at = serializers.DateTimeField()
            frame = serializers.IntegerField()
            data = serializers.DictField()

        frames = FrameSerializer(many=True)
        summary = serializers.DictField()
        events = EventSerializer(many=True)
        schedule = serializers.DictField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        data = {**project_quality(user=request.user, project=project), "schedule": loop_status(project)}
        return Response(self.OutputSerializer(data).data)
