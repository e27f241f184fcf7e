"""Targets: list/add/replace-all on an image, and get/move/delete one (version-checked: stale -> 409)."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import NumberField, Serializer
from labeling.apis.shared import WAIT_PARAMETER, GenerationOutputSerializer, generation_payload, wait_seconds
from labeling.selectors import image_get, target_get, target_list
from labeling.services import target_add, target_delete, target_move, targets_replace
from labeling.services.targets import UNSET


class TargetOutputSerializer(Serializer):
    id = serializers.IntegerField()
    image_id = serializers.IntegerField()
    x = serializers.FloatField(help_text="pixel units; 0 is the centre of the first column")
    y = serializers.FloatField(help_text="pixel units; 0 is the centre of the first row")
    tightness = serializers.FloatField(allow_null=True)
    track_id = serializers.IntegerField(allow_null=True, help_text="the object across a sequence's frames, or null")
    version = serializers.IntegerField()
    mask_state = serializers.SerializerMethodField()
    created_by_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_mask_state(self, target) -> str | None:
        mask = getattr(target, "mask", None) if _mask_loaded(target) else None
        return mask.state if mask is not None else None


def _mask_loaded(target) -> bool:
    # Only read the mask when the selector joined it in; never a query per row.
    return "mask" in target._state.fields_cache


class TargetGenerationOutputSerializer(TargetOutputSerializer):
    generation = serializers.SerializerMethodField(help_text="the regeneration this change started")

    @extend_schema_field(GenerationOutputSerializer)
    def get_generation(self, target) -> dict:
        return self.context["generation"]


def _with_generation(request: Request, target, image) -> dict:
    """The target plus the masks regenerated for its image, when the worker answers within `wait` seconds."""
    payload = generation_payload(request, image, wait_seconds(request))
    return TargetGenerationOutputSerializer(target, context={"generation": payload}).data


class _PointSerializer(Serializer):
    x = NumberField()
    y = NumberField()
    tightness = NumberField(required=False, allow_null=True, help_text="generator alpha in (0, 1)")


class TargetListApi(APIView):
    """GET the image's targets; POST one more; PUT the complete list (items with `id` keep that target)."""

    class AddInputSerializer(_PointSerializer):
        pass

    class ReplaceInputSerializer(Serializer):
        class ItemSerializer(_PointSerializer):
            id = serializers.IntegerField(required=False)

        version = serializers.IntegerField(min_value=1, help_text="the image version you saw")
        points = ItemSerializer(many=True)

    @extend_schema(responses={200: TargetOutputSerializer(many=True)})
    def get(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        return Response(TargetOutputSerializer(target_list(user=request.user, image=image), many=True).data)

    @extend_schema(
        request=AddInputSerializer, parameters=[WAIT_PARAMETER], responses={201: TargetGenerationOutputSerializer}
    )
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.AddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wait_seconds(request)  # a bad `wait` is refused before anything is saved
        target = target_add(image=image, actor=request.user, **serializer.validated_data)
        return Response(_with_generation(request, target, image), status=status.HTTP_201_CREATED)

    @extend_schema(request=ReplaceInputSerializer, responses={200: TargetOutputSerializer(many=True)})
    def put(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        serializer = self.ReplaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        targets_replace(image=image, actor=request.user, **serializer.validated_data)
        return Response(TargetOutputSerializer(target_list(user=request.user, image=image), many=True).data)


class TargetDetailApi(APIView):
    class UpdateInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=1)
        x = NumberField(required=False)
        y = NumberField(required=False)
        tightness = NumberField(required=False, allow_null=True)

    class DeleteInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=1, required=False)

    @extend_schema(responses={200: TargetOutputSerializer})
    def get(self, request: Request, target_id: int) -> Response:
        return Response(TargetOutputSerializer(target_get(user=request.user, target_id=target_id)).data)

    @extend_schema(
        request=UpdateInputSerializer, parameters=[WAIT_PARAMETER], responses={200: TargetGenerationOutputSerializer}
    )
    def patch(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wait_seconds(request)
        data = serializer.validated_data
        target_move(
            target=target,
            actor=request.user,
            version=data["version"],
            x=data.get("x"),
            y=data.get("y"),
            tightness=data.get("tightness", UNSET),
        )
        moved = target_get(user=request.user, target_id=target_id)
        return Response(_with_generation(request, moved, moved.image))

    @extend_schema(request=DeleteInputSerializer, responses={204: None})
    def delete(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        serializer = self.DeleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target_delete(target=target, actor=request.user, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
