"""Truly concurrent writes (threads, separate PostgreSQL connections): one wins, the other gets 409, nothing is lost."""

import threading

import numpy as np
import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from labeling import storage
from labeling.choices import Role
from labeling.models import Image, Mask, Target
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, TargetFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(requests: list) -> list[int]:
    """Run the callables at the same moment, each in its own thread and DB connection; their status codes."""
    barrier = threading.Barrier(len(requests))
    codes: list[int] = [0] * len(requests)

    def run(index: int) -> None:
        try:
            barrier.wait()
            codes[index] = requests[index]().status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return codes


def annotator_client(project) -> APIClient:
    client = APIClient()
    client.force_authenticate(MembershipFactory(project=project, role=Role.ANNOTATOR).user)
    return client


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_racing_target_moves():
    target = TargetFactory(x=1, y=1)
    project = target.image.project
    url = reverse("target-detail", kwargs={"target_id": target.pk})
    alice, bob = annotator_client(project), annotator_client(project)
    codes = race([lambda: alice.patch(url, {"version": 1, "x": 5}), lambda: bob.patch(url, {"version": 1, "x": 9})])
    assert sorted(codes) == [200, 409]
    target.refresh_from_db()
    assert target.version == 2
    assert target.x == (5 if codes[0] == 200 else 9)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_racing_mask_edits():
    mask = MaskFactory()
    project, image = mask.image.project, mask.image
    url = reverse("target-mask", kwargs={"target_id": mask.target.pk})
    rasters = [np.zeros((image.height, image.width), bool) for _ in range(2)]
    rasters[0][0, 0], rasters[1][5, 5] = True, True
    bodies = [
        {"version": 1, "rle": {"size": [image.height, image.width], "counts": storage.mask_encode(r)[0]}}
        for r in rasters
    ]
    alice, bob = annotator_client(project), annotator_client(project)
    codes = race([lambda: alice.put(url, bodies[0], format="json"), lambda: bob.put(url, bodies[1], format="json")])
    assert sorted(codes) == [200, 409]
    mask = Mask.objects.get(pk=mask.pk)
    winner = rasters[codes.index(200)]
    assert mask.version == 2
    assert np.array_equal(storage.mask_decode(mask.rle, image.height, image.width), winner)
    assert mask.revisions.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_racing_claims_get_different_images():
    image = ImageFactory()
    second = ImageFactory(project=image.project)
    project = image.project
    url = reverse("image-claim", kwargs={"project_id": project.pk})
    clients = [annotator_client(project), annotator_client(project)]
    codes = race([lambda: clients[0].post(url), lambda: clients[1].post(url)])
    assert codes == [200, 200]
    assigned = set(Image.objects.filter(pk__in=[image.pk, second.pk]).values_list("assigned_to", flat=True))
    assert len(assigned) == 2 and None not in assigned
    assert Target.objects.count() == 0
