"""Mask endpoints: RLE/PNG read, replacement by RLE or PNG, wrong size -> 400, concurrent edits -> 409."""

import base64
import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from labeling import storage
from labeling.choices import MaskState
from labeling.models import Mask
from tests.factories import MaskFactory, TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mask(project):
    return MaskFactory(target=TargetFactory(image__project=project), warnings=["fallback"], provenance={"clicks": [1]})


def mask_url(target) -> str:
    return reverse("target-mask", kwargs={"target_id": target.pk})


def raster(height=16, width=24, y0=5, x0=6) -> np.ndarray:
    out = np.zeros((height, width), bool)
    out[y0 : y0 + 3, x0 : x0 + 2] = True
    return out


def rle_body(version: int, array: np.ndarray) -> dict:
    return {"version": version, "rle": {"size": list(array.shape), "counts": storage.mask_encode(array)[0]}}


def test_get_json_and_png(mask, viewer, client_for):
    client = client_for(viewer)
    body = client.get(mask_url(mask.target)).json()
    assert body["rle"] == {"size": [16, 24], "counts": mask.rle}
    assert (body["area"], body["bbox"], body["state"], body["source"], body["version"]) == (
        9,
        [4, 3, 3, 3],
        "predicted",
        "coldstart",
        1,
    )
    assert (body["warnings"], body["provenance"]) == (["fallback"], {"clicks": [1]})
    png = client.get(mask_url(mask.target), {"format": "png"})
    assert png["Content-Type"] == "image/png"
    decoded = np.asarray(PILImage.open(io.BytesIO(png.content)))
    assert np.array_equal(decoded > 0, storage.mask_decode(mask.rle, 16, 24))
    assert set(np.unique(decoded)) <= {0, 255}


def test_image_masks_lists_all(mask, viewer, client_for, django_assert_max_num_queries):
    MaskFactory(target=TargetFactory(image=mask.image, x=10, y=10))
    with django_assert_max_num_queries(3):
        response = client_for(viewer).get(reverse("image-masks", kwargs={"image_id": mask.image.pk}))
    assert [m["target_id"] for m in response.json()] == sorted(m.target_id for m in Mask.objects.all())


def test_missing_mask_is_404(project, viewer, client_for):
    target = TargetFactory(image__project=project)
    response = client_for(viewer).get(mask_url(target))
    assert response.status_code == 404
    assert set(response.json()) == {"message", "extra"}


def test_put_rle_then_png(mask, annotator, client_for):
    client = client_for(annotator)
    response = client.put(mask_url(mask.target), rle_body(1, raster()), format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["source"], response.json()["version"]) == ("edited", "human", 2)
    buffer = io.BytesIO()
    PILImage.fromarray((raster(x0=0) * 255).astype(np.uint8)).save(buffer, format="PNG")
    body = {"version": 2, "png": base64.b64encode(buffer.getvalue()).decode()}
    response = client.put(mask_url(mask.target), body, format="json")
    assert response.status_code == 200
    mask.refresh_from_db()
    assert np.array_equal(storage.mask_decode(mask.rle, 16, 24), raster(x0=0))
    assert mask.revisions.count() == 2


def test_put_on_target_without_mask(project, annotator, client_for):
    target = TargetFactory(image__project=project)
    response = client_for(annotator).put(mask_url(target), rle_body(0, raster()), format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 1


@pytest.mark.parametrize(
    "body",
    [
        rle_body(1, raster(15, 24)),
        {"version": 1, "rle": {"size": [16, 24], "counts": storage.mask_encode(raster(16, 23))[0]}},
        {"version": 1, "rle": {"size": [16, 24], "counts": "\x7f\x00garbage"}},
        {"version": 1, "png": base64.b64encode(b"not a png").decode()},
        {"version": 1, "png": "%%%"},
        {"version": 1},
    ],
    ids=["rle-size", "rle-runs", "rle-garbage", "png-garbage", "base64-garbage", "nothing"],
)
def test_put_bad_mask_is_400_and_changes_nothing(mask, annotator, client_for, body):
    response = client_for(annotator).put(mask_url(mask.target), body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    fresh = Mask.objects.get(pk=mask.pk)
    assert (fresh.rle, fresh.version) == (mask.rle, 1)


def test_put_png_of_wrong_size_is_400(mask, annotator, client_for):
    buffer = io.BytesIO()
    PILImage.fromarray(np.zeros((16, 25), np.uint8)).save(buffer, format="PNG")
    body = {"version": 1, "png": base64.b64encode(buffer.getvalue()).decode()}
    response = client_for(annotator).put(mask_url(mask.target), body, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["expected_size"] == [16, 24]


def test_concurrent_mask_edits_second_gets_409(mask, member, client_for):
    alice, bob = client_for(member("annotator")), client_for(member("annotator"))
    version = alice.get(mask_url(mask.target)).json()["version"]
    first = alice.put(mask_url(mask.target), rle_body(version, raster(x0=1)), format="json")
    second = bob.put(mask_url(mask.target), rle_body(version, raster(x0=10)), format="json")
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["extra"]["current_version"] == version + 1
    mask.refresh_from_db()
    assert np.array_equal(storage.mask_decode(mask.rle, 16, 24), raster(x0=1))
    assert mask.revisions.count() == 1


def test_confirmed_mask_edit_needs_reviewer(mask, annotator, reviewer, client_for):
    confirm_url = reverse("mask-confirm", kwargs={"target_id": mask.target.pk})
    assert client_for(reviewer).post(confirm_url, {"version": 1}).json()["state"] == MaskState.CONFIRMED
    assert client_for(annotator).put(mask_url(mask.target), rle_body(2, raster()), format="json").status_code == 403
    assert client_for(reviewer).put(mask_url(mask.target), rle_body(2, raster()), format="json").status_code == 200


def test_reject_with_stale_version(mask, reviewer, client_for):
    url = reverse("mask-reject", kwargs={"target_id": mask.target.pk})
    assert client_for(reviewer).post(url, {"version": 1, "comment": "no"}).json()["state"] == "rejected"
    assert client_for(reviewer).post(url, {"version": 1}).status_code == 409


def test_accept_png_header_gets_png_and_put_stays_json(mask, annotator, client_for):
    client = client_for(annotator)
    png = client.get(mask_url(mask.target), HTTP_ACCEPT="image/png")
    assert png["Content-Type"] == "image/png"
    put = client.put(mask_url(mask.target), rle_body(1, raster()), format="json", HTTP_ACCEPT="image/png")
    assert (put.status_code, put.json()["version"]) == (200, 2)
