"""Hostile field values answer 400 {message, extra} and store nothing: a project description or settings over their
caps, and a JSON boolean where a coordinate belongs (JSON `true` would be the number 1 to Python)."""

import json

import pytest
from django.urls import reverse

from labeling.models import Project, Target
from labeling.services.projects import PROJECT_DESCRIPTION_MAX_CHARS, SETTINGS_MAX_BYTES
from tests.factories import ImageFactory, TargetFactory

pytestmark = pytest.mark.django_db


def _refused(response, *words: str) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}
    for word in words:
        assert word in json.dumps(body)
    return body


def test_project_description_over_the_cap_is_400(project, manager, client_for):
    client = client_for(manager)
    long = "d" * (PROJECT_DESCRIPTION_MAX_CHARS + 1)
    _refused(client.post(reverse("project-list"), {"name": "X", "description": long}, format="json"), "description")
    url = reverse("project-detail", kwargs={"project_id": project.pk})
    _refused(client.patch(url, {"version": project.version, "description": long}, format="json"), "description")
    _refused(client.patch(url, {"version": project.version, "description": long}, format="multipart"), "description")
    project.refresh_from_db()
    assert project.description == ""
    assert not Project.objects.filter(name="X").exists()
    fits = client.patch(url, {"version": project.version, "description": "d" * PROJECT_DESCRIPTION_MAX_CHARS})
    assert fits.status_code == 200


def test_project_settings_over_the_cap_is_400(project, manager, client_for):
    client = client_for(manager)
    url = reverse("project-detail", kwargs={"project_id": project.pk})
    big = {"notes": "n" * SETTINGS_MAX_BYTES}
    _refused(client.post(reverse("project-list"), {"name": "Y", "settings": big}, format="json"), "settings")
    _refused(client.patch(url, {"version": project.version, "settings": big}, format="json"), "settings")
    # Many small merges cannot grow it past the cap either.
    half = {"a": "n" * (SETTINGS_MAX_BYTES // 2)}
    assert client.patch(url, {"version": 1, "settings": half}, format="json").status_code == 200
    _refused(client.patch(url, {"version": 2, "settings": {"b": half["a"]}}, format="json"), "settings")
    wide_unicode = {"notes": "é" * (SETTINGS_MAX_BYTES // 2 + 1)}  # under the cap in characters, over it in bytes
    _refused(client.patch(url, {"version": 2, "settings": wide_unicode}, format="json"), "settings")
    project.refresh_from_db()
    assert set(project.settings) == {"a"}


@pytest.mark.parametrize(
    "body",
    [{"x": True, "y": 3}, {"x": 3, "y": False}, {"x": 3, "y": 4, "tightness": True}],
    ids=["x-true", "y-false", "tightness-true"],
)
def test_boolean_is_not_a_coordinate_when_adding(project, annotator, client_for, body):
    image = ImageFactory(project=project)
    response = client_for(annotator).post(reverse("target-list", kwargs={"image_id": image.pk}), body, format="json")
    _refused(response, next(key for key, value in body.items() if isinstance(value, bool)))
    assert not Target.objects.exists()


def test_boolean_is_not_a_coordinate_when_moving_or_replacing(project, annotator, client_for):
    image = ImageFactory(project=project)
    target = TargetFactory(image=image, x=5.0, y=4.0)
    client = client_for(annotator)
    url = reverse("target-detail", kwargs={"target_id": target.pk})
    _refused(client.patch(url, {"version": target.version, "x": True}, format="json"), "x")
    _refused(client.patch(url, {"version": target.version, "y": False}, format="json"), "y")
    replace = {"version": image.version, "points": [{"x": 1, "y": 1}, {"x": True, "y": True}]}
    _refused(client.put(reverse("target-list", kwargs={"image_id": image.pk}), replace, format="json"), "points")
    target.refresh_from_db()
    assert (target.x, target.y, Target.objects.count()) == (5.0, 4.0, 1)
    # Numbers, and numbers sent as form fields, still work.
    moved = client.patch(url, {"version": target.version, "x": 6, "y": 2.5}, format="json")
    assert (moved.status_code, moved.json()["x"], moved.json()["y"]) == (200, 6.0, 2.5)
    form = client.patch(url, {"version": moved.json()["version"], "x": "7.5"}, format="multipart")
    assert (form.status_code, form.json()["x"]) == (200, 7.5)
