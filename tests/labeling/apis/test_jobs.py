"""Job endpoints: list (newest first), poll, cancel."""

import pytest
from django.urls import reverse

from labeling.services import job_update_progress
from tests.factories import JobFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_list_and_poll(project, viewer, client_for):
    older, newer = JobFactory(project=project), JobFactory(project=project, kind="train")
    JobFactory()  # another project's
    job_update_progress(job=older, done=1, total=3, message="working", errors=[{"item": 4, "message": "bad"}])
    client = client_for(viewer)
    listed = client.get(reverse("job-list", kwargs={"project_id": project.pk})).json()["results"]
    assert [j["id"] for j in listed] == [newer.pk, older.pk]
    assert [
        j["id"]
        for j in client.get(reverse("job-list", kwargs={"project_id": project.pk}), {"kind": "train"}).json()["results"]
    ] == [newer.pk]
    polled = client.get(reverse("job-detail", kwargs={"job_id": older.pk})).json()
    assert (polled["status"], polled["progress"], polled["done"], polled["total"]) == ("running", 33, 1, 3)
    assert polled["errors"] == [{"item": 4, "message": "bad"}]
    assert polled["started_at"] is not None


def test_cancel_then_cancel_again(project, manager, client_for):
    job = JobFactory(project=project)
    url = reverse("job-cancel", kwargs={"job_id": job.pk})
    cancelled = client_for(manager).post(url)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert client_for(manager).post(url).status_code == 409


def test_model_versions_include_base(project, viewer, client_for):
    base = ModelVersionFactory(project=None, number=1)
    own = ModelVersionFactory(project=project, number=2)
    ModelVersionFactory(number=3)  # another project's
    listed = client_for(viewer).get(reverse("model-version-list", kwargs={"project_id": project.pk})).json()
    assert [m["id"] for m in listed] == [base.pk, own.pk]


def test_audit_lists_changes(project, manager, client_for):
    client = client_for(manager)
    client.patch(
        reverse("project-detail", kwargs={"project_id": project.pk}), {"version": 1, "name": "n"}, format="json"
    )
    rows = client.get(reverse("audit-list", kwargs={"project_id": project.pk})).json()["results"]
    assert rows[0]["action"] == "project.update"
    assert rows[0]["actor"] == manager.username
