"""Annotator QA over HTTP: after a submit and a confirm, a reviewer reads the annotator's figures; the shape."""

import numpy as np
import pytest
from django.urls import reverse

from tests.factories import ImageFactory, MaskFactory, TargetFactory

pytestmark = pytest.mark.django_db


def test_a_reviewer_reads_each_annotators_figures(client_for, annotator, reviewer, project):
    image = ImageFactory(project=project)
    raster = np.zeros((16, 24), bool)
    raster[3:6, 3:6] = True
    MaskFactory(target=TargetFactory(image=image, x=4, y=4), raster=raster)
    client_for(annotator).post(reverse("image-claim", kwargs={"project_id": project.pk}))
    body = {
        "version": client_for(annotator).get(reverse("image-detail", kwargs={"image_id": image.pk})).json()["version"]
    }
    assert client_for(annotator).post(reverse("image-submit", kwargs={"image_id": image.pk}), body).status_code == 200
    body = {
        "version": client_for(reviewer).get(reverse("image-detail", kwargs={"image_id": image.pk})).json()["version"]
    }
    assert client_for(reviewer).post(reverse("image-confirm", kwargs={"image_id": image.pk}), body).status_code == 200

    qa = client_for(reviewer).get(reverse("project-qa", kwargs={"project_id": project.pk})).json()
    (row,) = qa["annotators"]
    assert row["username"] == annotator.username and (row["frames"], row["iou"], row["pd"]) == (1, 100.0, 100.0)
    assert row["median_seconds"] is not None and qa["waiting"] == 0
    assert qa["series"][0]["days"][0]["frames"] == 1
