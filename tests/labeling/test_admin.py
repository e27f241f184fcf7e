"""The Django admin: every page loads for staff, thumbnails render, actions go through services."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from labeling.choices import JobKind, JobStatus, Split
from labeling.models import AuditLog, Image, Job
from tests.factories import ImageFactory, JobFactory, MaskFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "model", ["project", "membership", "image", "target", "mask", "maskrevision", "modelversion", "job", "auditlog"]
)
def test_changelists_load(staff_client, model):
    MaskFactory()
    response = staff_client.get(reverse(f"admin:labeling_{model}_changelist"))
    assert response.status_code == 200


def test_admin_refuses_non_staff(client):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:labeling_image_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_thumbnail_is_a_small_png_of_a_16_bit_frame(staff_client):
    pixels = (np.arange(200 * 300, dtype=np.uint32).reshape(200, 300) % 65536).astype(np.uint16)
    image = ImageFactory(pixels=pixels)
    response = staff_client.get(reverse("admin:labeling_image_thumbnail", args=[image.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    thumb = PILImage.open(io.BytesIO(response.content))
    assert max(thumb.size) == 96 and thumb.mode == "L"
    assert np.asarray(thumb).max() > 200  # stretched, not a dark 16-bit-to-8-bit truncation


def test_move_split_action_calls_the_service_and_audits(staff_client):
    project = ProjectFactory()
    images = [ImageFactory(project=project, split=Split.TRAIN) for _ in range(3)]
    response = staff_client.post(
        reverse("admin:labeling_image_changelist"),
        {"action": "move_to_val", "_selected_action": [images[0].pk, images[1].pk]},
    )
    assert response.status_code == 302
    splits = dict(Image.objects.values_list("pk", "split"))
    assert splits == {images[0].pk: Split.VAL, images[1].pk: Split.VAL, images[2].pk: Split.TRAIN}
    assert Image.objects.get(pk=images[0].pk).version == images[0].version + 1
    assert AuditLog.objects.filter(action="image.split").count() == 2


def test_requeue_action_puts_failed_jobs_back(staff_client, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("labeling.services.jobs.current_app.send_task", lambda name, args: sent.append(args))
    failed = JobFactory(kind=JobKind.GENERATE, status=JobStatus.FAILED, message="boom")
    running = JobFactory(kind=JobKind.GENERATE, status=JobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:labeling_job_changelist"),
            {"action": "requeue_jobs", "_selected_action": [failed.pk, running.pk]},
        )
    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED and failed.attempts == 1 and failed.message == "re-queued"
    assert Job.objects.get(pk=running.pk).status == JobStatus.RUNNING
    assert sent == [[failed.pk]]
