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


def test_a_frame_labelled_twice_over_http(client_for, annotator, reviewer, project):
    from labeling.choices import Role
    from tests.factories import MembershipFactory

    project.settings = {"qa": {"double_share": 1.0}}
    project.save()
    bob = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    image = ImageFactory(project=project)
    detail = reverse("image-detail", kwargs={"image_id": image.pk})
    double = reverse("image-double", kwargs={"image_id": image.pk})
    assert client_for(reviewer).get(double).status_code == 404  # labelled once so far: nothing to compare
    for who, x in ((annotator, 4), (bob, 5)):
        claimed = client_for(who).post(reverse("image-claim", kwargs={"project_id": project.pk})).json()
        assert claimed["id"] == image.pk
        target = client_for(who).post(reverse("target-list", kwargs={"image_id": image.pk}), {"x": x, "y": 4})
        assert target.status_code == 201
        version = client_for(who).get(detail).json()["version"]
        submitted = client_for(who).post(reverse("image-submit", kwargs={"image_id": image.pk}), {"version": version})
        assert submitted.status_code == 200
        if who is annotator:  # the first pass went aside: the frame waits for someone else
            assert submitted.json()["status"] == "new" and submitted.json()["double"] == "second_pass"
            refused = client_for(annotator).post(reverse("image-claim", kwargs={"project_id": project.pk}))
            assert refused.status_code == 404
    assert client_for(reviewer).get(detail).json()["double"] == "labelled_twice"
    body = client_for(reviewer).get(double).json()
    assert [p["blind_pass"] for p in body["passes"]] == [1, 2] and body["waiting_for_second"] is False
    assert body["passes"][0]["points"] == [[4.0, 4.0]] and body["agreement"]["frames"] == 1
    assert client_for(annotator).get(double).status_code == 403
    qa = client_for(reviewer).get(reverse("project-qa", kwargs={"project_id": project.pk})).json()
    assert qa["double"]["pairs"] == 1 and qa["double"]["iou"] is not None
