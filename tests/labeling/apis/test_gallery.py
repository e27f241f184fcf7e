"""The review gallery's endpoints: order (warnings, then size), keyset pages, filters, a fixed query count, the crop
PNG and its ETag, and confirm/reject through the mask endpoints under the same review rules."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from labeling.choices import ImageStatus, MaskState, Role
from labeling.models import Image, Mask
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, TargetFactory

pytestmark = pytest.mark.django_db


def frame(height: int = 48, width: int = 64, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (1000 + rng.integers(0, 50, (height, width))).astype(np.uint16)


def square(image, x: int, y: int, half: int) -> np.ndarray:
    raster = np.zeros((image.height, image.width), bool)
    raster[y - half : y + half + 1, x - half : x + half + 1] = True
    return raster


@pytest.fixture
def tiles(project):
    """Five targets on two frames: point_outside (9 px), too_large (49 px), plain 25 px, plain 1 px, no mask."""
    one, two = ImageFactory(project=project, pixels=frame(seed=1)), ImageFactory(project=project, pixels=frame(seed=2))
    made = {}
    for name, image, x, y, half, warnings in [
        ("outside", one, 10, 10, 1, ["point_outside"]),
        ("large", two, 30, 20, 3, ["too_large"]),
        ("plain", one, 40, 30, 2, []),
        ("tiny", two, 10, 40, 0, []),
    ]:
        target = TargetFactory(image=image, x=x, y=y)
        MaskFactory(target=target, raster=square(image, x, y, half), warnings=warnings)
        made[name] = target
    made["bare"] = TargetFactory(image=one, x=50, y=5)
    return made


def gallery(client, project, **params):
    response = client.get(reverse("gallery-list", kwargs={"project_id": project.pk}), params)
    assert response.status_code == 200, response.content
    return response.json()


def ids(body) -> list[int]:
    return [tile["id"] for tile in body["results"]]


def test_warnings_first_then_largest(tiles, project, viewer, client_for):
    body = gallery(client_for(viewer), project)
    t = tiles
    assert ids(body) == [t["outside"].pk, t["large"].pk, t["plain"].pk, t["tiny"].pk, t["bare"].pk]
    assert body["count"] == 5 and body["next"] is None
    first = body["results"][0]
    assert first["rank"] == 2 and first["mask"]["warnings"] == ["point_outside"] and first["mask"]["area"] == 9
    assert body["results"][1]["rank"] == 1 and body["results"][4]["mask"] is None
    assert first["crop_url"].startswith(f"/api/v1/targets/{t['outside'].pk}/crop/?size=96&v=")


def test_smallest_first_keeps_warnings_on_top(tiles, project, viewer, client_for):
    body = gallery(client_for(viewer), project, order="small")
    t = tiles
    assert ids(body) == [t["outside"].pk, t["large"].pk, t["bare"].pk, t["tiny"].pk, t["plain"].pk]


def test_keyset_pages_visit_every_tile_once_even_while_reviewing(tiles, project, reviewer, client_for):
    client = client_for(reviewer)
    everything = ids(gallery(client, project))
    seen, after = [], None
    while True:
        body = gallery(client, project, page_size=2, **({"after": after} if after else {}))
        seen += ids(body)
        assert body["count"] == (5 if after is None else None)  # counted once, on the first page
        if len(seen) == 2:  # a review between pages changes no tile's place
            confirm = reverse("mask-confirm", kwargs={"target_id": tiles["large"].pk})
            assert client.post(confirm, {}, format="json").status_code == 200
        after = body["next"]
        if after is None:
            break
    assert seen == everything


def test_filters(tiles, project, viewer, client_for, member):
    client, t = client_for(viewer), tiles
    assert ids(gallery(client, project, warning="any")) == [t["outside"].pk, t["large"].pk]
    assert ids(gallery(client, project, warning="too_large")) == [t["large"].pk]
    assert ids(gallery(client, project, warning="none")) == [t["plain"].pk, t["tiny"].pk, t["bare"].pk]
    Mask.objects.filter(target=t["plain"]).update(state=MaskState.CONFIRMED)
    unconfirmed = gallery(client, project, state=["predicted", "edited", "none"])
    assert t["plain"].pk not in ids(unconfirmed) and t["bare"].pk in ids(unconfirmed) and unconfirmed["count"] == 4
    assert ids(gallery(client, project, state="none")) == [t["bare"].pk]
    anna = member(Role.ANNOTATOR)
    Image.objects.filter(pk=t["large"].image_id).update(submitted_by=anna, status=ImageStatus.SUBMITTED)
    mine = gallery(client, project, annotator_id=anna.pk)
    assert ids(mine) == [t["large"].pk, t["tiny"].pk]
    assert mine["results"][0]["annotators"] == [anna.pk]


@pytest.mark.parametrize(
    "params",
    [{"after": "x"}, {"after": "1.2"}, {"warning": "Bad!"}, {"state": "done"}, {"order": "up"}, {"page_size": 0}],
)
def test_bad_filters_are_400(project, viewer, client_for, params):
    response = client_for(viewer).get(reverse("gallery-list", kwargs={"project_id": project.pk}), params)
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.parametrize("per_image", [1, 12])
def test_a_page_costs_a_fixed_number_of_queries(project, viewer, client_for, django_assert_max_num_queries, per_image):
    for n in range(4):
        image = ImageFactory(project=project, pixels=frame(seed=n))
        for k in range(per_image):
            MaskFactory(target=TargetFactory(image=image, x=4 + 4 * (k % 12), y=10), warnings=["fallback"] * (k % 2))
    with django_assert_max_num_queries(3):
        body = gallery(client_for(viewer), project, page_size=100)
    assert len(body["results"]) == 4 * per_image


def crop(client, target, **params):
    return client.get(reverse("target-crop", kwargs={"target_id": target.pk}), params)


def test_crop_is_a_zoomed_tile_with_the_outline_and_the_point(tiles, viewer, client_for):
    target = tiles["outside"]  # a 3x3 mask at (10, 10): a window of 16 pixels around it, zoomed x6 to 96
    response = crop(client_for(viewer), target)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    rgb = np.asarray(PILImage.open(io.BytesIO(response.content)).convert("RGB"))
    assert rgb.shape == (96, 96, 3)
    amber, cyan, zoom = [255, 200, 0], [0, 220, 255], 6
    top = (9 + 12 - 16) // 2  # the mask spans rows (and columns) 9-11; the window is centred on its box
    r0, r1 = (9 - top) * zoom, (12 - top) * zoom - 1  # the mask's first and last zoomed rows
    assert all(list(rgb[r0, c]) == amber for c in range(r0, r1 + 1))  # top edge of the outline
    assert all(list(rgb[r, r1]) == amber for r in range(r0, r1 + 1))  # right edge
    assert list(rgb[r0 + 2, r0 + 1]) != amber and list(rgb[r0 - 1, r0]) != amber  # inside and outside: pixels
    centre = int((10 - top + 0.5) * zoom)
    assert list(rgb[centre, centre]) == cyan and list(rgb[centre - 1, centre - 1]) == cyan


def test_crop_etag_follows_the_mask_version(tiles, reviewer, client_for):
    client, target = client_for(reviewer), tiles["plain"]
    first = crop(client, target, size=64)
    etag = first["ETag"]
    assert first["Cache-Control"] == "private, no-cache"
    again = client.get(reverse("target-crop", kwargs={"target_id": target.pk}), {"size": 64}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert crop(client, target, size=64, v=etag.strip('"'))["Cache-Control"] == "private, max-age=31536000, immutable"
    assert client.post(reverse("mask-confirm", kwargs={"target_id": target.pk}), {}, format="json").status_code == 200
    changed = client.get(reverse("target-crop", kwargs={"target_id": target.pk}), {"size": 64}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_crop_of_a_target_without_mask_and_bad_size(tiles, viewer, client_for):
    assert crop(client_for(viewer), tiles["bare"], size=48).status_code == 200
    bad = crop(client_for(viewer), tiles["bare"], size=7)
    assert bad.status_code == 400 and set(bad.json()) == {"message", "extra"}


def test_gallery_review_keeps_the_separate_reviewer_rule(tiles, project, client_for):
    """Confirm from the gallery is the mask endpoint: the annotator of a frame cannot confirm it there either."""
    rita, rolf = (MembershipFactory(project=project, role=Role.REVIEWER).user for _ in range(2))
    Image.objects.filter(pk=tiles["plain"].image_id).update(submitted_by=rita, status=ImageStatus.SUBMITTED)
    confirm = reverse("mask-confirm", kwargs={"target_id": tiles["plain"].pk})
    assert client_for(rita).post(confirm, {}, format="json").status_code == 403
    outside = reverse("mask-confirm", kwargs={"target_id": tiles["outside"].pk})
    refused = client_for(rolf).post(outside, {}, format="json")
    assert refused.status_code == 409 and refused.json()["extra"]["needs_acknowledgement"] == ["point_outside"]
    assert client_for(rolf).post(outside, {"acknowledge": ["point_outside"]}, format="json").status_code == 200
    assert client_for(rolf).post(confirm, {}, format="json").status_code == 200
    left = gallery(client_for(rolf), project, state=["predicted", "edited"])
    assert tiles["plain"].pk not in ids(left) and tiles["outside"].pk not in ids(left)
