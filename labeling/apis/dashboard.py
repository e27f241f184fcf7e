"""Project dashboard: image counts by status, per annotator, mask counts by state, and the quality of the masks the
team received (viewer+)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.selectors import image_double, image_get, project_dashboard, project_get, project_quality, qa_summary
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
        data = project_dashboard(user=request.user, project=project)
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


class ProjectQaApi(APIView):
    """GET annotator QA (reviewer+): each annotator's submissions scored against the confirmed masks once a reviewer
    confirmed the frame (pixel IoU, Pd, Fa in 1e-6 of pixels, false targets, median seconds from claim to submit),
    the same on gold frames (scored at submit against their gold labels), and their IoU per day."""

    class OutputSerializer(Serializer):
        class FiguresSerializer(Serializer):
            frames = serializers.IntegerField()
            targets = serializers.IntegerField()
            false_targets = serializers.IntegerField()
            iou = serializers.FloatField()
            pd = serializers.FloatField()
            fa = serializers.FloatField()
            fat = serializers.FloatField()

        class AnnotatorSerializer(FiguresSerializer):
            user_id = serializers.IntegerField(allow_null=True)
            username = serializers.CharField(allow_null=True)
            gold = serializers.DictField(allow_null=True, help_text="the same figures on gold frames, or null")
            agreement = serializers.DictField(
                allow_null=True,
                help_text="their blind passes of double-annotated frames scored against the other annotator's, or null",
            )
            median_seconds = serializers.FloatField(allow_null=True)

        class SeriesSerializer(Serializer):
            class DaySerializer(Serializer):
                day = serializers.DateField()
                frames = serializers.IntegerField()
                iou = serializers.FloatField()

            user_id = serializers.IntegerField(allow_null=True)
            username = serializers.CharField(allow_null=True)
            days = DaySerializer(many=True)

        annotators = AnnotatorSerializer(many=True)
        series = SeriesSerializer(many=True)

        class DoubleSerializer(Serializer):
            pairs = serializers.IntegerField(help_text="frames labelled twice, blind")
            iou = serializers.FloatField(allow_null=True, help_text="pooled IoU of the second passes against the first")
            second_pass_waiting = serializers.IntegerField(help_text="first passes whose frame waits for a second")

        waiting = serializers.IntegerField(help_text="submissions whose frame is not confirmed yet")
        double = DoubleSerializer(help_text="double annotation (settings.qa.double_share): inter-annotator agreement")

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        return Response(self.OutputSerializer(qa_summary(user=request.user, project=project)).data)


class ImageDoubleApi(APIView):
    """GET a double-annotated frame's two blind passes (points, COCO RLE masks, who, when, seconds) and their
    agreement (the second pass scored against the first: IoU, Pd, Fa, false targets); reviewer+, since annotators
    must not read each other's pass. 404 for a frame labelled once."""

    class OutputSerializer(Serializer):
        class PassSerializer(Serializer):
            blind_pass = serializers.IntegerField()
            submission_id = serializers.IntegerField()
            annotator = serializers.CharField(allow_null=True)
            submitted_at = serializers.DateTimeField()
            seconds = serializers.FloatField(allow_null=True)
            points = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
            masks = serializers.ListField(
                child=serializers.CharField(allow_null=True), help_text="COCO RLE counts per point, size = the image's"
            )

        image_id = serializers.IntegerField()
        waiting_for_second = serializers.BooleanField()
        passes = PassSerializer(many=True)
        agreement = serializers.DictField(allow_null=True)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        return Response(self.OutputSerializer(image_double(user=request.user, image=image)).data)
