"""The loop's endpoints: training 202/409, pre-labeling 202 with its selection checked, promote/retire answers."""

from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from labeling.choices import JobKind, JobStatus, ModelStatus
from labeling.models import Job, ModelVersion
from tests.factories import ImageFactory, MembershipFactory, ModelVersionFactory, TargetFactory
from tests.labeling.frames import loop_project

pytestmark = pytest.mark.django_db


def test_start_training_answers_the_job_and_refuses_a_second(client_for):
    project, manager = loop_project(n_confirmed=2)
    client = client_for(manager)
    url = reverse("model-train", kwargs={"project_id": project.pk})
    first = client.post(url)
    assert first.status_code == 202
    assert (first.json()["kind"], first.json()["status"]) == (JobKind.TRAIN, JobStatus.QUEUED)
    second = client.post(url)
    assert second.status_code == 409 and f"job {first.json()['id']}" in second.json()["message"]
    assert Job.objects.filter(project=project, kind=JobKind.TRAIN).count() == 1


def test_prelabel_answers_the_job_and_names_foreign_images(client_for):
    project, manager = loop_project()
    image = ImageFactory(project=project)
    TargetFactory(image=image)
    other, _ = loop_project()
    foreign = ImageFactory(project=other)
    client = client_for(manager)
    url = reverse("project-prelabel", kwargs={"project_id": project.pk})
    bad = client.post(url, {"image_ids": [image.pk, foreign.pk]}, format="json")
    assert bad.status_code == 400 and "image_ids" in bad.json()["message"]
    assert bad.json()["extra"]["missing"] == [foreign.pk]
    wrong_type = client.post(url, {"image_ids": ["x"]}, format="json")
    assert wrong_type.status_code == 400 and "image_ids" in str(wrong_type.json())
    ok = client.post(url, {"image_ids": [image.pk]}, format="json")
    assert ok.status_code == 202 and (ok.json()["kind"], ok.json()["total"]) == (JobKind.PRELABEL, 1)


def test_promote_and_retire_answer_the_version_and_hide_other_projects(client_for):
    project, manager = loop_project()
    relative = f"models/{project.pk}/v1.pt"
    Path(default_storage.path(relative)).parent.mkdir(parents=True, exist_ok=True)
    Path(default_storage.path(relative)).write_bytes(b"weights")
    version = ModelVersionFactory(project=project, number=1, checkpoint=relative, status=ModelStatus.REJECTED)
    client = client_for(manager)
    promoted = client.post(reverse("model-version-promote", kwargs={"version_id": version.pk}))
    assert promoted.status_code == 200 and promoted.json()["status"] == ModelStatus.PROMOTED
    retired = client.post(reverse("model-version-retire", kwargs={"version_id": version.pk}))
    assert retired.status_code == 200 and retired.json()["status"] == ModelStatus.RETIRED
    other, _ = loop_project()
    hidden = ModelVersionFactory(project=other, number=1, checkpoint=relative)
    assert client.post(reverse("model-version-promote", kwargs={"version_id": hidden.pk})).status_code == 404
    assert client.post(reverse("model-version-promote", kwargs={"version_id": 10**9})).status_code == 404
    assert ModelVersion.objects.get(pk=hidden.pk).status == ModelStatus.CANDIDATE


def test_quality_answers_the_shown_record_the_decisions_and_the_schedule(client_for):
    from tests.labeling.frames import stream_frame

    project, manager = loop_project(retrain={"calibrate_at": [5], "train_at": [10000]})
    images = [stream_frame(project, manager, seed=s, radius2=13) for s in range(5)]
    from labeling.services.calibration import project_calibrate

    project_calibrate(job_id=Job.objects.get(project=project, kind=JobKind.CALIBRATE).pk)
    viewer = MembershipFactory(project=project, role="viewer").user
    body = client_for(viewer).get(reverse("project-quality", kwargs={"project_id": project.pk})).json()
    assert [f["image_id"] for f in body["frames"]] == [i.pk for i in images]
    assert [f["frame"] for f in body["frames"]] == [1, 2, 3, 4, 5]
    assert all(f["generator"] == "cold start α 0.35" and 0 < f["iou"] < 100 for f in body["frames"])
    summary = body["summary"]
    assert summary["frames"] == 5 and summary["late_shown_iou"] is None and 0 < summary["mean_shown_iou"] < 100
    calibrated = [e for e in body["events"] if e["action"] == "loop.calibrate"]
    assert len(calibrated) == 1 and calibrated[0]["frame"] == 5 and calibrated[0]["data"]["alpha"] < 0.35
    assert body["schedule"]["calibration"]["next_at"] == 85  # calibrate_every (80) after the list's last
    other, _ = loop_project()
    assert client_for(viewer).get(reverse("project-quality", kwargs={"project_id": other.pk})).status_code == 404
