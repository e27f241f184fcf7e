"""Suggested targets over HTTP: list, accept (201 + the target), reject, accept all, run the detector (202 + job)."""

import pytest
from django.urls import reverse

from labeling.choices import JobKind, JobStatus, SuggestionState
from labeling.models import Suggestion, Target
from labeling.services.suggestions import image_suggest
from tests.factories import ImageFactory
from tests.labeling.frames import blob_frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def frame(project):
    pixels, centres, _ = blob_frame(21)
    image = ImageFactory(project=project, pixels=pixels)
    image_suggest(image=image)
    return image


def test_list_is_pending_only_strongest_first(client_for, viewer, annotator, frame):
    url = reverse("suggestion-list", kwargs={"image_id": frame.pk})
    body = client_for(viewer).get(url).json()
    assert len(body) == 2 and body[0]["score"] >= body[1]["score"]
    assert set(body[0]) >= {"id", "x", "y", "score", "source", "state", "target_id"} and body[0]["state"] == "pending"
    client_for(annotator).post(reverse("suggestion-reject", kwargs={"suggestion_id": body[0]["id"]}))
    assert [s["id"] for s in client_for(viewer).get(url).json()] == [body[1]["id"]]
    frame.status = "confirmed"
    frame.save(update_fields=["status"])
    assert client_for(viewer).get(url).json() == []  # nothing to decide on a confirmed image


def test_pending_suggestions_are_not_in_the_project_stats(client_for, viewer, frame):
    stats = client_for(viewer).get(reverse("project-stats", kwargs={"project_id": frame.project_id})).json()
    assert stats["targets"] == 0 and stats["by_status"] == {"new": 1}


def test_accept_answers_the_new_target_and_a_second_accept_is_409(client_for, annotator, frame):
    suggestion = Suggestion.objects.filter(image=frame).first()
    url = reverse("suggestion-accept", kwargs={"suggestion_id": suggestion.pk})
    response = client_for(annotator).post(url)
    assert response.status_code == 201
    body = response.json()
    target = Target.objects.get(image=frame)
    assert body["target"] == {"id": target.pk, "x": suggestion.x, "y": suggestion.y, "version": 1}
    assert body["suggestion"]["state"] == "accepted" and body["suggestion"]["target_id"] == target.pk
    again = client_for(annotator).post(url)
    assert again.status_code == 409 and "already accepted" in again.json()["message"]


def test_reject_keeps_it_as_rejected(client_for, annotator, frame):
    suggestion = Suggestion.objects.filter(image=frame).first()
    response = client_for(annotator).post(reverse("suggestion-reject", kwargs={"suggestion_id": suggestion.pk}))
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    suggestion.refresh_from_db()
    assert suggestion.state == SuggestionState.REJECTED and not Target.objects.filter(image=frame).exists()


def test_accept_all(client_for, annotator, frame):
    response = client_for(annotator).post(reverse("suggestion-accept-all", kwargs={"image_id": frame.pk}))
    assert response.status_code == 200 and len(response.json()["targets"]) == 2
    assert Target.objects.filter(image=frame).count() == 2


def test_detect_on_an_image_and_over_the_project_answer_202_with_the_job(client_for, annotator, manager, frame):
    one = client_for(annotator).post(reverse("suggestion-detect", kwargs={"image_id": frame.pk}))
    assert one.status_code == 202 and one.json()["kind"] == JobKind.DETECT and one.json()["total"] == 1
    url = reverse("project-suggestion-detect", kwargs={"project_id": frame.project_id})
    refused = client_for(annotator).post(url, {}, format="json")
    assert refused.status_code == 403 and "manager" in refused.json()["message"]
    whole = client_for(manager).post(url, {}, format="json")
    assert whole.status_code == 202 and whole.json()["status"] == JobStatus.QUEUED and whole.json()["total"] == 1
    other = ImageFactory()  # another project's image
    bad = client_for(manager).post(url, {"image_ids": [other.pk]}, format="json")
    assert bad.status_code == 400 and "not in this project" in bad.json()["message"]


def test_a_non_member_sees_no_suggestion(client_for, outsider, frame):
    suggestion = Suggestion.objects.filter(image=frame).first()
    response = client_for(outsider).post(reverse("suggestion-accept", kwargs={"suggestion_id": suggestion.pk}))
    assert response.status_code == 404 and set(response.json()) == {"message", "extra"}
    assert client_for(outsider).get(reverse("suggestion-list", kwargs={"image_id": frame.pk})).status_code == 404
