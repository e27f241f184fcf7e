"""Project members: list/add, and get/change role/remove one (managers; only owners touch owners)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.choices import Role
from labeling.selectors import membership_get, membership_list, project_get
from labeling.services import membership_add, membership_remove, membership_update_role


class MembershipOutputSerializer(Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()


class MemberListApi(APIView):
    class AddInputSerializer(Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses={200: MembershipOutputSerializer(many=True)})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        memberships = membership_list(user=request.user, project=project)
        return Response(MembershipOutputSerializer(memberships, many=True).data)

    @extend_schema(request=AddInputSerializer, responses={201: MembershipOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.AddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_add(project=project, actor=request.user, **serializer.validated_data)
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    class UpdateInputSerializer(Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    def _get(self, request: Request, project_id: int, membership_id: int):
        project = project_get(user=request.user, project_id=project_id)
        return membership_get(user=request.user, project=project, membership_id=membership_id)

    @extend_schema(responses={200: MembershipOutputSerializer})
    def get(self, request: Request, project_id: int, membership_id: int) -> Response:
        return Response(MembershipOutputSerializer(self._get(request, project_id, membership_id)).data)

    @extend_schema(request=UpdateInputSerializer, responses={200: MembershipOutputSerializer})
    def patch(self, request: Request, project_id: int, membership_id: int) -> Response:
        membership = self._get(request, project_id, membership_id)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_update_role(membership=membership, actor=request.user, **serializer.validated_data)
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, membership_id: int) -> Response:
        membership = self._get(request, project_id, membership_id)
        membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
