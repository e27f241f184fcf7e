"""Project, member, auth and schema endpoints."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from labeling.choices import Role
from labeling.models import Membership, Project
from tests.factories import ImageFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_create_and_list_only_my_projects(client_for):
    alice = UserFactory()
    ProjectFactory()  # someone else's
    response = client_for(alice).post(
        reverse("project-list"), {"name": "Sky", "settings": {"generator": {"alpha": 0.2}}}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["role"], response.json()["settings"]["generator"]["alpha"]) == ("owner", 0.2)
    listed = client_for(alice).get(reverse("project-list")).json()
    assert [p["name"] for p in listed] == ["Sky"]


def test_detail_counts_and_patch_version(project, manager, client_for):
    ImageFactory(project=project)
    url = reverse("project-detail", kwargs={"project_id": project.pk})
    client = client_for(manager)
    assert client.get(url).json()["image_counts"] == {"new": 1}
    patched = client.patch(url, {"version": 1, "settings": {"point_style": {"radius": 6}}}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["version"], patched.json()["settings"]["point_style"]["radius"]) == (2, 6)
    stale = client.patch(url, {"version": 1, "name": "lost"}, format="json")
    assert (stale.status_code, stale.json()["extra"]["current_version"]) == (409, 2)
    bad = client.patch(url, {"version": 2, "settings": {"generator": {"alpha": 3}}}, format="json")
    assert bad.status_code == 400
    assert "generator.alpha" in bad.json()["message"]
    project.refresh_from_db()
    assert project.name != "lost"


def test_owner_deletes_project(project, owner, client_for):
    assert client_for(owner).delete(reverse("project-detail", kwargs={"project_id": project.pk})).status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()


def test_members_add_change_remove(project, owner, manager, client_for):
    newcomer = UserFactory()
    url = reverse("member-list", kwargs={"project_id": project.pk})
    added = client_for(manager).post(url, {"username": newcomer.username, "role": "annotator"})
    assert (added.status_code, added.json()["username"]) == (201, newcomer.username)
    detail = reverse("member-detail", kwargs={"project_id": project.pk, "membership_id": added.json()["id"]})
    assert client_for(manager).patch(detail, {"role": "owner"}).status_code == 403
    assert client_for(owner).patch(detail, {"role": "owner"}).json()["role"] == "owner"
    assert client_for(manager).delete(detail).status_code == 403
    assert client_for(owner).delete(detail).status_code == 204
    assert client_for(manager).post(url, {"username": "ghost", "role": "viewer"}).status_code == 404
    assert client_for(manager).post(url, {"username": newcomer.username, "role": "emperor"}).status_code == 400


def test_last_owner_is_kept(project, owner, client_for):
    membership = Membership.objects.get(user=owner)
    url = reverse("member-detail", kwargs={"project_id": project.pk, "membership_id": membership.pk})
    assert client_for(owner).delete(url).status_code == 409
    assert client_for(owner).patch(url, {"role": "manager"}).status_code == 409
    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_member_of_another_project_is_404(project, manager, client_for):
    other = Membership.objects.create(project=ProjectFactory(), user=UserFactory(), role=Role.VIEWER)
    url = reverse("member-detail", kwargs={"project_id": project.pk, "membership_id": other.pk})
    assert client_for(manager).get(url).status_code == 404


def test_token_login_and_use(project, viewer):
    client = APIClient()
    token = client.post(reverse("auth-token"), {"username": viewer.username, "password": "pw"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(reverse("me")).json()["username"] == viewer.username
    assert client.get(reverse("project-detail", kwargs={"project_id": project.pk})).status_code == 200
    wrong = APIClient().post(reverse("auth-token"), {"username": viewer.username, "password": "nope"})
    assert (wrong.status_code, set(wrong.json())) == (400, {"message", "extra"})


def test_token_login_is_throttled(monkeypatch):
    # The rates are read when DRF loads; patch the class attribute to a tiny rate for this test.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "2/min"})
    cache.clear()
    client = APIClient()
    codes = [client.post(reverse("auth-token"), {"username": "x", "password": "y"}).status_code for _ in range(3)]
    cache.clear()
    assert codes == [400, 400, 429]


def test_session_auth_enforces_csrf(project, viewer):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(viewer)
    assert client.get(reverse("project-detail", kwargs={"project_id": project.pk})).status_code == 200
    response = client.post(reverse("project-list"), {"name": "x"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


def test_anonymous_gets_401_with_challenge(project):
    response = APIClient().get(reverse("project-detail", kwargs={"project_id": project.pk}))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_schema_builds_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/images/{image_id}/pixels/" in (tmp_path / "schema.yml").read_text()


def test_docs_are_served(viewer, client_for):
    client = APIClient()
    client.force_login(viewer)
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/schema/").status_code == 200
