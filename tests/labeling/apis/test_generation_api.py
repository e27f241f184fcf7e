"""Click to masks through the API with a real worker on Redis: masks in the response, or a job to poll."""

import numpy as np
import pytest
from django.urls import reverse

from labeling import storage
from labeling.choices import JobStatus, Role
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory
from tests.labeling.frames import two_blobs_frame

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(celery_worker_process, settings, client_for):
    settings.MEDIA_ROOT = celery_worker_process.media_root
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    image = ImageFactory(project=project, pixels=two_blobs_frame())
    return client_for(user), image


def test_add_point_returns_its_mask_when_the_worker_answers(setup):
    client, image = setup
    response = client.post(reverse("target-list", args=[image.pk]) + "?wait=5", {"x": 20.2, "y": 19.8}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    generation = body["generation"]
    assert generation["done"] is True and generation["job"]["status"] == JobStatus.SUCCEEDED
    (mask,) = generation["masks"]
    assert mask["target_id"] == body["id"] and mask["source"] == "coldstart"
    raster = storage.mask_decode(mask["rle"]["counts"], image.height, image.width)
    assert raster[20, 20] and 3 <= raster.sum() <= 60


def test_move_and_poll_when_not_waiting(setup):
    client, image = setup
    first = client.post(reverse("target-list", args=[image.pk]) + "?wait=5", {"x": 20, "y": 20}, format="json").json()
    moved = client.patch(
        reverse("target-detail", args=[first["id"]]) + "?wait=0", {"x": 60, "y": 40, "version": 1}, format="json"
    ).json()
    assert moved["x"] == 60 and moved["generation"]["job"]["id"] != first["generation"]["job"]["id"]
    polled = client.get(reverse("image-generation", args=[image.pk]) + "?wait=5").json()
    assert polled["done"] is True and polled["job"]["id"] == moved["generation"]["job"]["id"]
    raster = storage.mask_decode(polled["masks"][0]["rle"]["counts"], image.height, image.width)
    ys, xs = np.nonzero(raster)
    assert abs(xs.mean() - 60) < 2 and abs(ys.mean() - 40) < 2  # the mask followed the point


@pytest.mark.parametrize("wait", ["-1", "6", "nan", "soon"])
def test_bad_wait_is_refused_and_nothing_saved(setup, wait):
    client, image = setup
    response = client.post(reverse("target-list", args=[image.pk]) + f"?wait={wait}", {"x": 5, "y": 5}, format="json")
    assert response.status_code == 400 and "wait" in response.json()["message"]
    assert image.targets.count() == 0
