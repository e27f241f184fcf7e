"""Ranking over HTTP: a manager's POST answers 202 with the job; the claim then follows the ranking when the
project asks for the active order, and the image says why it was picked."""

import pytest
from django.urls import reverse

from labeling.choices import JobKind
from labeling.models import Image
from labeling.services.ranking import frames_rank
from tests.factories import ImageFactory
from tests.labeling.frames import blob_frame

pytestmark = pytest.mark.django_db


def test_rank_then_claim_in_active_order(client_for, manager, annotator, project):
    images = [ImageFactory(project=project, pixels=blob_frame(seed)[0]) for seed in (41, 42, 43)]
    response = client_for(manager).post(reverse("project-rank", kwargs={"project_id": project.pk}), {}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == JobKind.RANK and job["total"] == 3
    frames_rank(job_id=job["id"], chunk=0)  # one chunk; the worker test runs it on a real worker

    url = reverse("project-detail", kwargs={"project_id": project.pk})
    version = client_for(manager).get(url).json()["version"]
    patched = client_for(manager).patch(
        url, {"version": version, "settings": {"claim": {"order": "active"}}}, format="json"
    )
    assert patched.status_code == 200, patched.content
    claimed = client_for(annotator).post(reverse("image-claim", kwargs={"project_id": project.pk})).json()
    scores = {i.pk: i.uncertainty for i in Image.objects.filter(pk__in=[i.pk for i in images])}
    assert claimed["id"] == max(scores, key=lambda k: (scores[k], -k))
    assert claimed["uncertainty"] == scores[claimed["id"]]
    assert set(claimed["uncertainty_detail"]) >= {"score", "parts", "n_points", "points", "compared", "ranked_at"}


def test_a_bad_body_is_a_400_naming_the_field(client_for, manager, project):
    response = client_for(manager).post(
        reverse("project-rank", kwargs={"project_id": project.pk}), {"image_ids": ["x"]}, format="json"
    )
    assert response.status_code == 400 and "image_ids" in response.json()["extra"]["fields"]
