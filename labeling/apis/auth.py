"""Token login for scripts (throttled: requests per client, failed attempts per client and user name) and the
current user."""

from django.contrib.auth import authenticate
from django.core.cache.backends.base import BaseCache
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from labeling.apis.base import Serializer
from labeling.exceptions import ApplicationError
from labeling.services.login_attempts import login_attempt_begin, login_succeeded, with_local_fallback
from labeling.services.tokens import token_issue


class LoginRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, counted in this process while the shared cache is unreachable (never a 500)."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        def allow(cache: BaseCache) -> bool:
            self.cache = cache
            return super(LoginRateThrottle, self).allow_request(request, view)

        return with_local_fallback(allow)


class AuthTokenApi(APIView):
    """POST username/password -> a token for `Authorization: Token <key>`."""

    authentication_classes: list = []  # a login needs no session (and so no CSRF token)
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"

    class InputSerializer(Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=512, trim_whitespace=False, style={"input_type": "password"})

    class OutputSerializer(Serializer):
        token = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="wrong username or password: {message, extra}"),
            429: OpenApiResponse(description="too many attempts from this client or for this user (Retry-After)"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client, username = BaseThrottle().get_ident(request), serializer.validated_data["username"]
        wait = login_attempt_begin(client=client, username=username)  # counted before the password is checked
        if wait:
            raise Throttled(wait=wait, detail="Too many failed sign-ins.")  # DRF adds the wait
        user = authenticate(request, **serializer.validated_data)
        if user is None or not user.is_active:
            raise ApplicationError("Wrong username or password.")  # the attempt stays counted
        login_succeeded(client=client, username=username)
        token = token_issue(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data, status=status.HTTP_200_OK)


class MeApi(APIView):
    class OutputSerializer(Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        email = serializers.EmailField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        is_staff = serializers.BooleanField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(request.user).data)
