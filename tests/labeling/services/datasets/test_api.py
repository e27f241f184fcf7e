"""Dataset endpoints: upload a zip (202 + job), start an export (202 + job), download when it has succeeded."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.choices import JobKind, JobStatus, Role
from labeling.models import Image, Job
from labeling.services.datasets import dataset_export, dataset_import
from tests.factories import ImageFactory, MembershipFactory
from tests.labeling.services.datasets.helpers import frame, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(project, client_for):
    return client_for(MembershipFactory(project=project, role=Role.MANAGER).user)


def test_upload_import_then_export_and_download(project, manager_client):
    data = zip_bytes({"images/a.png": frame(seed=1), "images/b.png": frame(seed=2)})
    response = manager_client.post(
        reverse("dataset-import", kwargs={"project_id": project.pk}),
        {"file": SimpleUploadedFile("d.zip", data), "split": "val"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == JobKind.IMPORT and body["status"] == JobStatus.QUEUED
    dataset_import(job_id=body["id"])  # what the worker does once the request's transaction commits
    job = manager_client.get(reverse("job-detail", kwargs={"job_id": body["id"]})).json()
    assert job["status"] == "succeeded" and job["result"]["counts"]["images"] == 2
    assert set(Image.objects.filter(project=project).values_list("split", flat=True)) == {"val"}

    response = manager_client.post(
        reverse("dataset-export", kwargs={"project_id": project.pk}), {"formats": ["sirst", "coco"]}, format="json"
    )
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    url = reverse("dataset-export-download", kwargs={"job_id": export_id})
    early = manager_client.get(url)
    assert early.status_code == 409 and "queued" in early.json()["message"]
    dataset_export(job_id=export_id)
    download = manager_client.get(url)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert {"images/a.png", "images/b.png", "annotations/instances.json"} <= set(archive.namelist())
    assert not any(name.startswith("instances/") for name in archive.namelist())


def test_upload_that_is_not_a_zip_is_refused(project, manager_client):
    response = manager_client.post(
        reverse("dataset-import", kwargs={"project_id": project.pk}),
        {"file": SimpleUploadedFile("d.zip", frame(seed=1))},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["message"] == "d.zip: not a zip archive."
    assert not Job.objects.filter(project=project).exists()


def test_export_options_are_validated(project, manager_client):
    url = reverse("dataset-export", kwargs={"project_id": project.pk})
    assert manager_client.post(url, {"formats": ["yolo"]}, format="json").status_code == 400
    assert manager_client.post(url, {"split": "holdout"}, format="json").status_code == 400
    assert not Job.objects.filter(project=project).exists()


def test_download_of_another_kind_of_job_is_404(project, manager_client):
    ImageFactory(project=project)
    job = Job.objects.create(project=project, kind=JobKind.PRELABEL, status=JobStatus.SUCCEEDED)
    response = manager_client.get(reverse("dataset-export-download", kwargs={"job_id": job.pk}))
    assert response.status_code == 404 and "not an export" in response.json()["message"]
