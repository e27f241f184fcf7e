"""Image endpoints: batch upload (201/207/all-fail), originals byte-for-byte, pixels, list filters and query counts."""

import io

import numpy as np
import pytest
import tifffile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image as PILImage

from labeling.choices import ImageStatus, MaskState, Role
from labeling.models import Image
from tests.factories import ImageFactory, MaskFactory, TargetFactory, gradient, png_bytes
from tests.labeling.services.test_images import bomb_png, tiff_bytes

pytestmark = pytest.mark.django_db


def upload(client, project, *files, split=None):
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    if split:
        data["split"] = split
    return client.post(reverse("image-list", kwargs={"project_id": project.pk}), data, format="multipart")


def test_upload_all_good_is_201(project, manager, client_for):
    response = upload(
        client_for(manager),
        project,
        ("a.png", png_bytes(gradient(seed=1))),
        ("b.png", png_bytes(gradient(seed=2))),
        split="test",
    )
    assert response.status_code == 201
    body = response.json()
    assert [i["original_name"] for i in body["created"]] == ["a.png", "b.png"]
    assert {i["split"] for i in body["created"]} == {"test"}
    assert body["errors"] == []


def test_upload_mixed_batch_is_207_and_good_files_land(project, manager, client_for):
    earlier = ImageFactory(project=project)
    earlier_bytes = earlier.file.read()
    good = png_bytes(gradient(seed=5))
    response = upload(
        client_for(manager),
        project,
        ("notes.png", b"plain text, not an image"),
        ("cut.png", good[: len(good) // 2]),
        ("empty.png", bomb_png(0, 0)),
        ("bomb.png", bomb_png()),
        ("rgba16.tif", tiff_bytes(np.zeros((8, 8, 4), np.uint16), photometric="rgb")),
        ("good.png", good),
        ("again.png", earlier_bytes),
    )
    assert response.status_code == 207
    body = response.json()
    assert [i["original_name"] for i in body["created"]] == ["good.png"]
    errors = {e["file"]: (e["status"], e["message"]) for e in body["errors"]}
    assert {name: status for name, (status, _) in errors.items()} == {
        "notes.png": 400,
        "cut.png": 400,
        "empty.png": 400,
        "bomb.png": 413,
        "rgba16.tif": 400,
        "again.png": 409,
    }
    for name, (_, message) in errors.items():
        assert message.startswith(f"{name}: ")
    assert "not an image" in errors["notes.png"][1]
    assert "truncated" in errors["cut.png"][1]
    assert "duplicate" in errors["again.png"][1]
    earlier.refresh_from_db()
    assert earlier.file.read() == earlier_bytes
    assert Image.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ([("a.txt", b"nope"), ("b.txt", b"nope either")], 400),
        ([("bomb.png", bomb_png())], 413),
        ([("bomb.png", bomb_png()), ("a.txt", b"nope")], 400),
    ],
)
def test_upload_all_failing_takes_the_failure_status(project, manager, client_for, files, status):
    response = upload(client_for(manager), project, *files)
    assert response.status_code == status
    body = response.json()
    for name, _ in files:
        assert name in body["message"]
    assert [e["file"] for e in body["extra"]["errors"]] == [name for name, _ in files]
    assert not Image.objects.exists()


def test_upload_duplicate_alone_is_409(project, manager, client_for):
    data = png_bytes(gradient(seed=3))
    upload(client_for(manager), project, ("a.png", data))
    response = upload(client_for(manager), project, ("copy.png", data))
    assert response.status_code == 409
    assert "copy.png" in response.json()["message"]


def test_upload_without_files_is_400(project, manager, client_for):
    response = client_for(manager).post(
        reverse("image-list", kwargs={"project_id": project.pk}), {}, format="multipart"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


def test_oversized_body_is_413(project, manager, client_for, settings):
    settings.MAX_REQUEST_BYTES = 1000
    response = upload(client_for(manager), project, ("a.png", png_bytes(gradient(64, 64, seed=9))))
    assert response.status_code == 413
    assert not Image.objects.exists()


def _pil_bytes(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "content_type", "dtype"),
    [
        ("g8.png", lambda: png_bytes(gradient(12, 10, seed=1)), "image/png", "uint8"),
        ("g16.png", lambda: png_bytes(gradient(12, 10, seed=2, dtype=np.uint16)), "image/png", "uint16"),
        ("g8.tif", lambda: tiff_bytes(gradient(12, 10, seed=3)), "image/tiff", "uint8"),
        ("g16.tif", lambda: tiff_bytes(gradient(12, 10, seed=4, dtype=np.uint16)), "image/tiff", "uint16"),
        ("g8.bmp", lambda: _pil_bytes(gradient(12, 10, seed=5), "BMP"), "image/bmp", "uint8"),
    ],
)
def test_original_and_pixels_are_exact(project, manager, viewer, client_for, name, make, content_type, dtype):
    data = make()
    created = upload(client_for(manager), project, (f'../x"{name}', data)).json()["created"][0]
    client = client_for(viewer)
    original = client.get(reverse("image-file", kwargs={"image_id": created["id"]}))
    assert original.status_code == 200
    assert original.content == data
    assert original["Content-Type"] == content_type
    assert original["X-Content-Type-Options"] == "nosniff"
    assert original["Content-Disposition"].startswith("attachment;")
    assert '"' not in original["Content-Disposition"].split("filename=", 1)[1].strip('"')

    expected = storage_pixels(data)
    raw = client.get(reverse("image-pixels", kwargs={"image_id": created["id"]}))
    assert raw["Content-Type"] == "application/octet-stream"
    assert (raw["X-Image-Width"], raw["X-Image-Height"], raw["X-Image-Dtype"]) == ("10", "12", dtype)
    assert np.array_equal(np.frombuffer(raw.content, dtype=np.dtype(dtype).newbyteorder("<")).reshape(12, 10), expected)

    png = client.get(reverse("image-pixels", kwargs={"image_id": created["id"]}), {"format": "png"})
    assert png["Content-Type"] == "image/png"
    assert np.array_equal(np.asarray(PILImage.open(io.BytesIO(png.content))), expected)


def storage_pixels(data: bytes) -> np.ndarray:
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return tifffile.imread(io.BytesIO(data))
    return np.asarray(PILImage.open(io.BytesIO(data)))


def test_pixels_of_rgb_are_luminance(project, manager, client_for):
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 1] = 100
    created = upload(client_for(manager), project, ("rgb.jpg", _pil_bytes(rgb, "PNG"))).json()["created"][0]
    raw = client_for(manager).get(reverse("image-pixels", kwargs={"image_id": created["id"]}))
    assert raw["X-Image-Dtype"] == "uint8"
    assert set(raw.content) == {round(100 * 0.587)}


def test_binary_endpoint_errors_are_json(project, outsider, client_for):
    image = ImageFactory(project=project)
    response = client_for(outsider).get(reverse("image-pixels", kwargs={"image_id": image.pk}), {"format": "png"})
    assert response.status_code == 404
    assert set(response.json()) == {"message", "extra"}


def list_url(project) -> str:
    return reverse("image-list", kwargs={"project_id": project.pk})


def test_list_filters(project, viewer, annotator, client_for):
    plain = ImageFactory(project=project)
    with_target = TargetFactory(image=ImageFactory(project=project, split="val")).image
    warned = MaskFactory(target=TargetFactory(image=ImageFactory(project=project)), warnings=["adhesion"]).image
    mine = ImageFactory(project=project, assigned_to=annotator, status=ImageStatus.IN_PROGRESS)
    client = client_for(viewer)

    def ids(**params) -> list[int]:
        response = client.get(list_url(project), params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [plain.pk, with_target.pk, warned.pk, mine.pk]
    assert ids(split="val") == [with_target.pk]
    assert ids(status="in_progress") == [mine.pk]
    assert ids(status=["new", "in_progress"]) == [plain.pk, with_target.pk, warned.pk, mine.pk]
    assert ids(assigned_to=annotator.pk) == [mine.pk]
    assert ids(assigned_to="none") == [plain.pk, with_target.pk, warned.pk]
    assert client_for(annotator).get(list_url(project), {"assigned_to": "me"}).json()["results"][0]["id"] == mine.pk
    assert ids(has_targets="true") == [with_target.pk, warned.pk]
    assert ids(has_targets="false") == [plain.pk, mine.pk]
    assert ids(has_warnings="true") == [warned.pk]
    rows = {row["id"]: row for row in client.get(list_url(project)).json()["results"]}
    assert (rows[with_target.pk]["target_count"], rows[warned.pk]["has_warnings"]) == (1, True)
    assert client.get(list_url(project), {"status": "lost"}).status_code == 400
    assert client.get(list_url(project), {"assigned_to": "someone"}).status_code == 400


def test_list_cursor_pages_cover_everything_once(project, viewer, client_for):
    created = [ImageFactory(project=project).pk for _ in range(7)]
    client, seen, url = client_for(viewer), [], list_url(project) + "?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == created


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_is_constant(project, viewer, client_for, django_assert_max_num_queries, count):
    for _ in range(count):
        image = ImageFactory(project=project)
        MaskFactory(target=TargetFactory(image=image), state=MaskState.EDITED, warnings=["fallback"])
    client = client_for(viewer)
    # session-less client: project + membership lookup, the page query
    with django_assert_max_num_queries(3):
        response = client.get(list_url(project), {"page_size": 100, "has_targets": "true"})
    assert len(response.json()["results"]) == count


def test_patch_split_stale_version_is_409(project, manager, client_for):
    image = ImageFactory(project=project)
    url = reverse("image-detail", kwargs={"image_id": image.pk})
    first, second = client_for(manager), client_for(manager)
    assert first.patch(url, {"version": 1, "split": "val"}).json()["version"] == 2
    response = second.patch(url, {"version": 1, "split": "test"})
    assert response.status_code == 409
    assert response.json()["extra"]["current_version"] == 2
    image.refresh_from_db()
    assert image.split == "val"


def test_claim_and_workflow(project, member, client_for):
    image = ImageFactory(project=project)
    alice, reviewer = member(Role.ANNOTATOR), member(Role.REVIEWER)
    claimed = client_for(alice).post(reverse("image-claim", kwargs={"project_id": project.pk}))
    assert (claimed.status_code, claimed.json()["id"], claimed.json()["assigned_to_id"]) == (200, image.pk, alice.pk)
    submitted = client_for(alice).post(reverse("image-submit", kwargs={"image_id": image.pk}))
    assert submitted.json()["status"] == "submitted"
    rejected = client_for(reviewer).post(reverse("image-reject", kwargs={"image_id": image.pk}), {"comment": "redo"})
    assert rejected.json()["status"] == "rejected"
    client_for(alice).post(reverse("image-submit", kwargs={"image_id": image.pk}))
    confirmed = client_for(reviewer).post(reverse("image-confirm", kwargs={"image_id": image.pk}))
    assert confirmed.json()["status"] == "confirmed"
    again = client_for(reviewer).post(reverse("image-confirm", kwargs={"image_id": image.pk}))
    assert again.status_code == 409
    nothing = client_for(member(Role.ANNOTATOR)).post(reverse("image-claim", kwargs={"project_id": project.pk}))
    assert nothing.status_code == 404


def test_pixels_accept_png_header(project, viewer, client_for):
    image = ImageFactory(project=project)
    response = client_for(viewer).get(reverse("image-pixels", kwargs={"image_id": image.pk}), HTTP_ACCEPT="image/png")
    assert response["Content-Type"] == "image/png"


def test_the_review_queue_and_the_annotators_list_carry_what_the_reviewer_decided(project, member, client_for):
    """Issue 18, items 2-3: the list says which images have a mask missing its point, and why an image came back."""
    alice, rex = member(Role.ANNOTATOR), member(Role.REVIEWER)
    flagged, plain = ImageFactory(project=project), ImageFactory(project=project)
    MaskFactory(target=TargetFactory(image=flagged), warnings=["point_outside"], state=MaskState.EDITED)
    MaskFactory(target=TargetFactory(image=plain), warnings=["adhesion"])
    for image in (flagged, plain):
        assert client_for(alice).post(reverse("image-submit", kwargs={"image_id": image.pk})).status_code == 200
    queue = client_for(rex).get(list_url(project), {"status": "submitted"}).json()["results"]
    assert [(i["id"], i["point_outside"], i["has_warnings"]) for i in queue] == [
        (flagged.pk, True, True),
        (plain.pk, False, True),
    ]
    url = reverse("image-confirm", kwargs={"image_id": flagged.pk})
    refused = client_for(rex).post(url, {}, format="json")
    assert refused.status_code == 409 and "point_outside" in refused.json()["message"]
    assert refused.json()["extra"]["needs_acknowledgement"] == ["point_outside"]
    wrong = client_for(rex).post(url, {"acknowledge": ["adhesion"]}, format="json")
    assert wrong.status_code == 400  # only a blocking warning can be acknowledged
    rejected = client_for(rex).post(
        reverse("image-reject", kwargs={"image_id": flagged.pk}), {"comment": "the point is off its mask"}
    )
    assert rejected.json()["last_rejection"]["comment"] == "the point is off its mask"
    mine = client_for(alice).get(list_url(project), {"assigned_to": "me"}).json()["results"]
    last = {i["id"]: i["last_rejection"] for i in mine}
    assert last[plain.pk] is None
    assert (last[flagged.pk]["comment"], last[flagged.pk]["by"]) == ("the point is off its mask", rex.username)
    detail = client_for(alice).get(reverse("image-detail", kwargs={"image_id": flagged.pk})).json()
    assert detail["last_rejection"] == last[flagged.pk] and detail["status"] == "rejected"
    client_for(alice).post(reverse("image-submit", kwargs={"image_id": flagged.pk}))
    done = client_for(rex).post(url, {"acknowledge": ["point_outside"]}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "confirmed"


def test_the_submitter_is_refused_confirming_with_a_clear_message(project, member, client_for):
    """Issue 18, item 5: two reviewers, so the rule is on by default; the other reviewer confirms."""
    rex, rita = member(Role.REVIEWER), member(Role.MANAGER)
    image = ImageFactory(project=project)
    submitted = client_for(rex).post(reverse("image-submit", kwargs={"image_id": image.pk})).json()
    assert submitted["submitted_by_id"] == rex.pk
    url = reverse("image-confirm", kwargs={"image_id": image.pk})
    refused = client_for(rex).post(url)
    assert refused.status_code == 403
    assert refused.json()["message"].startswith(f"You annotated image {image.pk}")
    assert refused.json()["extra"]["rule"] == "separate_reviewer"
    assert client_for(rita).post(url).json()["status"] == "confirmed"
