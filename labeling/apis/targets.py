"""Targets: list/add/replace-all on an image, and get/move/delete one (version-checked: stale -> 409)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer, require
from labeling.permissions import ANNOTATE
from labeling.selectors import image_get, target_get, target_list
from labeling.services import target_add, target_delete, target_move, targets_replace
from labeling.services.targets import UNSET


class TargetOutputSerializer(Serializer):
    id = serializers.IntegerField()
    image_id = serializers.IntegerField()
    x = serializers.FloatField(help_text="pixel units; 0 is the centre of the first column")
    y = serializers.FloatField(help_text="pixel units; 0 is the centre of the first row")
    tightness = serializers.FloatField(allow_null=True)
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


class _PointSerializer(Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()
    tightness = serializers.FloatField(required=False, allow_null=True, help_text="generator alpha in (0, 1)")


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

    @extend_schema(request=AddInputSerializer, responses={201: TargetOutputSerializer})
    def post(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        require(request, image.project, ANNOTATE, "add targets")
        serializer = self.AddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = target_add(image=image, actor=request.user, **serializer.validated_data)
        return Response(TargetOutputSerializer(target).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReplaceInputSerializer, responses={200: TargetOutputSerializer(many=True)})
    def put(self, request: Request, image_id: int) -> Response:
        image = image_get(user=request.user, image_id=image_id)
        require(request, image.project, ANNOTATE, "replace targets")
        serializer = self.ReplaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        targets_replace(image=image, actor=request.user, **serializer.validated_data)
        return Response(TargetOutputSerializer(target_list(user=request.user, image=image), many=True).data)


class TargetDetailApi(APIView):
    class UpdateInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=1)
        x = serializers.FloatField(required=False)
        y = serializers.FloatField(required=False)
        tightness = serializers.FloatField(required=False, allow_null=True)

    class DeleteInputSerializer(Serializer):
        version = serializers.IntegerField(min_value=1, required=False)

    @extend_schema(responses={200: TargetOutputSerializer})
    def get(self, request: Request, target_id: int) -> Response:
        return Response(TargetOutputSerializer(target_get(user=request.user, target_id=target_id)).data)

    @extend_schema(request=UpdateInputSerializer, responses={200: TargetOutputSerializer})
    def patch(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        require(request, target.image.project, ANNOTATE, "move targets")
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target_move(
            target=target,
            actor=request.user,
            version=data["version"],
            x=data.get("x"),
            y=data.get("y"),
            tightness=data.get("tightness", UNSET),
        )
        return Response(TargetOutputSerializer(target_get(user=request.user, target_id=target_id)).data)

    @extend_schema(request=DeleteInputSerializer, responses={204: None})
    def delete(self, request: Request, target_id: int) -> Response:
        target = target_get(user=request.user, target_id=target_id)
        require(request, target.image.project, ANNOTATE, "delete targets")
        serializer = self.DeleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target_delete(target=target, actor=request.user, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
