"""People on the team (managers and owners): who is in which of my projects with which role; invite someone with
a one-time set-password link; reset a password (a new link); deactivate and reactivate (labeling.services.users
holds the rules)."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.choices import Role
from labeling.selectors import project_get, user_get, user_list
from labeling.services.users import (
    AccountLink,
    actor_roles,
    manage_denial,
    user_invite,
    user_password_reset,
    user_set_active,
    user_status,
)


class UserMembershipSerializer(Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    project_name = serializers.CharField(source="project.name")
    role = serializers.ChoiceField(choices=Role.choices)


class UserOutputSerializer(Serializer):
    """A person as a manager sees them: only memberships in projects the asker manages; `manage_denial` says why
    the asker may not reset or deactivate them (null: they may)."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(help_text="may be empty: an invitation needs no e-mail address")
    status = serializers.SerializerMethodField(help_text="active, invited (no password set yet) or deactivated")
    is_active = serializers.BooleanField()
    is_admin = serializers.SerializerMethodField(help_text="a superuser or staff account")
    last_login = serializers.DateTimeField(allow_null=True)
    date_joined = serializers.DateTimeField()
    memberships = UserMembershipSerializer(source="visible_memberships", many=True)
    manage_denial = serializers.SerializerMethodField()

    def get_status(self, person: Any) -> str:
        return user_status(person)

    def get_is_admin(self, person: Any) -> bool:
        return bool(person.is_superuser or person.is_staff)

    def get_manage_denial(self, person: Any) -> str | None:
        actor, mine = self.context["actor"], self.context["mine"]
        return manage_denial(actor=actor, target=person, theirs=person.all_memberships, mine=mine)


def _people(request: Request, people: Any, many: bool = False) -> dict:
    context = {"actor": request.user, "mine": actor_roles(request.user)}
    return UserOutputSerializer(people, many=many, context=context).data


class AccountLinkOutputSerializer(Serializer):
    """The one-time link, shown once: pass it to the person (it opens a page where they choose a password)."""

    user = UserOutputSerializer()
    link = serializers.URLField()
    expires_at = serializers.DateTimeField()


def _link_response(request: Request, link: AccountLink, code: int) -> Response:
    person = user_get(user=request.user, user_id=link.user.pk)
    data = {
        "user": _people(request, person),
        "link": request.build_absolute_uri(link.path),
        "expires_at": serializers.DateTimeField().to_representation(link.expires_at),
    }
    return Response(data, status=code, headers={"Cache-Control": "no-store"})


class UserListApi(APIView):
    class FilterSerializer(Serializer):
        project = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        parameters=[OpenApiParameter("project", int, description="only this project's members (you must manage it)")],
        responses={200: UserOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        """Everyone in the projects you manage (nobody if you manage none; everyone for a superuser)."""
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        project = None
        if "project" in filters.validated_data:
            project = project_get(user=request.user, project_id=filters.validated_data["project"])
        return Response(_people(request, user_list(user=request.user, project=project), many=True))


class UserDetailApi(APIView):
    class UpdateInputSerializer(Serializer):
        is_active = serializers.BooleanField(help_text="false deactivates (no sign-in, memberships kept)")

    @extend_schema(responses={200: UserOutputSerializer})
    def get(self, request: Request, user_id: int) -> Response:
        return Response(_people(request, user_get(user=request.user, user_id=user_id)))

    class UpdateOutputSerializer(UserOutputSerializer):
        released_images = serializers.IntegerField(help_text="unfinished images given back to the pool")

    @extend_schema(request=UpdateInputSerializer, responses={200: UpdateOutputSerializer})
    def patch(self, request: Request, user_id: int) -> Response:
        person = user_get(user=request.user, user_id=user_id)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        released = user_set_active(target=person, actor=request.user, **serializer.validated_data)
        return Response({**_people(request, user_get(user=request.user, user_id=user_id)), "released_images": released})


class UserPasswordResetApi(APIView):
    @extend_schema(request=None, responses={200: AccountLinkOutputSerializer})
    def post(self, request: Request, user_id: int) -> Response:
        """The old password stops working at once; the person sets a new one through the returned one-time link."""
        person = user_get(user=request.user, user_id=user_id)
        return _link_response(request, user_password_reset(target=person, actor=request.user), status.HTTP_200_OK)


class InvitationCreateApi(APIView):
    class InputSerializer(Serializer):
        username = serializers.CharField(max_length=150)
        email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(request=InputSerializer, responses={201: AccountLinkOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        """A new account in this project with `role` (owner: owners only) and its one-time set-password link."""
        project = project_get(user=request.user, project_id=project_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link = user_invite(project=project, actor=request.user, **serializer.validated_data)
        return _link_response(request, link, status.HTTP_201_CREATED)
