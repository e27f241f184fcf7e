"""Sequences over HTTP: an upload with a `sequence` name, the detail's neighbours, carrying (200 with the carried
suggestions, 400 for a lone frame) and the target's track id after accepting."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import png_bytes
from tests.labeling.services.test_sequences import STARTS, STEP, moving_frame

pytestmark = pytest.mark.django_db


def test_upload_a_sequence_walk_it_and_carry_the_points(client_for, manager, annotator, project):
    files = [SimpleUploadedFile(f"t{k}.png", png_bytes(moving_frame(STARTS + k * STEP, seed=k))) for k in (1, 0)]
    url = reverse("image-list", kwargs={"project_id": project.pk})
    response = client_for(manager).post(url, {"files": files, "sequence": "night"}, format="multipart")
    assert response.status_code == 201, response.content
    first, second = sorted(response.json()["created"], key=lambda i: i["frame_index"])
    assert (first["original_name"], first["sequence"], second["frame_index"]) == ("t0.png", "night", 2)

    detail = client_for(annotator).get(reverse("image-detail", kwargs={"image_id": second["id"]})).json()
    assert detail["sequence_frames"] == {"previous_id": first["id"], "next_id": None, "length": 2}

    for x, y in STARTS:
        client_for(annotator).post(
            reverse("target-list", kwargs={"image_id": first["id"]}), {"x": x, "y": y}, format="json"
        )
    carried = client_for(annotator).post(reverse("suggestion-carry", kwargs={"image_id": second["id"]}))
    assert carried.status_code == 200, carried.content
    body = carried.json()
    assert len(body) == 3 and {s["source"] for s in body} == {"carried"}
    got = np.array([[s["x"], s["y"]] for s in body])
    assert np.abs(got - (STARTS + STEP)).max() <= 0.6

    accepted = client_for(annotator).post(reverse("suggestion-accept", kwargs={"suggestion_id": body[0]["id"]}))
    assert accepted.status_code == 201
    targets = client_for(annotator).get(reverse("target-list", kwargs={"image_id": second["id"]})).json()
    assert [t["track_id"] for t in targets] == [body[0]["params"]["track_id"]]


def test_carrying_to_a_lone_frame_is_a_400_naming_why(client_for, manager, annotator, project):
    upload = SimpleUploadedFile("lone.png", png_bytes(moving_frame([])))
    url = reverse("image-list", kwargs={"project_id": project.pk})
    image = client_for(manager).post(url, {"files": [upload]}, format="multipart").json()["created"][0]
    response = client_for(annotator).post(reverse("suggestion-carry", kwargs={"image_id": image["id"]}))
    assert response.status_code == 400 and "not a frame of a sequence" in response.json()["message"]
