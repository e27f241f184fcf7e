"""Every error the API answers is JSON {message, extra}, never Django's HTML page: too many files or fields, a body
over the limits, an unknown URL, a wrong method, a server error; pages (not /api/) keep their HTML errors."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.models import Image
from tests.factories import gradient, png_bytes

pytestmark = pytest.mark.django_db


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["extra"], dict)
    return body


@pytest.fixture
def token_client(manager):
    """Scripts sign in with a token: the path that reads the body only in the view."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager).key}")
    return client


@pytest.fixture
def session_client(manager):
    """The browser's path: a session with CSRF checks, which read the form before the view does."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(manager)
    client.get("/")  # sets the csrftoken cookie
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    return client


def _files(count: int) -> list:
    return [SimpleUploadedFile(f"f{i}.png", png_bytes(gradient(seed=i))) for i in range(count)]


@pytest.mark.parametrize("client_name", ["token_client", "session_client"])
def test_too_many_files_is_json_413(project, settings, request, client_name):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    client = request.getfixturevalue(client_name)
    response = client.post(
        reverse("image-list", kwargs={"project_id": project.pk}), {"files": _files(3)}, format="multipart"
    )
    body = _json_error(response, 413)
    assert "files" in body["message"]
    assert body["extra"]["limit"] == 2
    assert not Image.objects.exists()


@pytest.mark.parametrize("client_name", ["token_client", "session_client"])
def test_too_many_fields_is_json_413(project, settings, request, client_name):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    client = request.getfixturevalue(client_name)
    data = {f"field{i}": "x" for i in range(10)}
    response = client.post(reverse("image-list", kwargs={"project_id": project.pk}), data, format="multipart")
    assert "fields" in _json_error(response, 413)["message"]


@pytest.mark.parametrize("client_name", ["token_client", "session_client"])
def test_form_fields_over_the_memory_limit_are_json_413(project, settings, request, client_name):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = request.getfixturevalue(client_name)
    data = {"split": "t" * 5000, "files": _files(1)}
    response = client.post(reverse("image-list", kwargs={"project_id": project.pk}), data, format="multipart")
    body = _json_error(response, 413)
    assert body["extra"]["limit"] == 1000


def test_json_body_over_the_memory_limit_is_json_413(project, settings, token_client):
    """A JSON body is read into memory whole: it has the form fields' limit, not the file uploads' one."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    url = reverse("project-detail", kwargs={"project_id": project.pk})
    response = token_client.patch(url, {"version": 1, "description": "d" * 5000}, format="json")
    assert _json_error(response, 413)["extra"]["limit"] == 1000
    project.refresh_from_db()
    assert project.description == ""


def test_unknown_api_url_is_json_404(token_client):
    body = _json_error(token_client.get("/api/v1/no-such-thing/"), 404)
    assert "/api/v1/no-such-thing/" in body["message"]
    _json_error(token_client.get("/api/v1/projects/abc/"), 404)


def test_wrong_method_is_json_405(project, token_client):
    response = token_client.put(reverse("project-list"), {}, format="json")
    assert "PUT" in _json_error(response, 405)["message"]


def test_server_error_is_json_500(project, manager, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("labeling.apis.projects.project_list", broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(manager)
    body = _json_error(client.get(reverse("project-list")), 500)
    assert "a bug" not in body["message"]  # no internals leak


def test_malformed_multipart_is_json_400(project, token_client):
    response = token_client.generic(
        "POST",
        reverse("image-list", kwargs={"project_id": project.pk}),
        b"--x\r\nnot a part",
        content_type="multipart/form-data; boundary=x",
    )
    _json_error(response, 400)


def test_pages_keep_html_errors():
    response = Client().get("/accounts/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
