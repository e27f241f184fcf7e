"""image_create / images_upload / image_update / image_delete and the review workflow."""

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
from django.core.files.storage import default_storage

from labeling import storage
from labeling.choices import ImageStatus, MaskState, Role, Split
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, Image
from labeling.services import (
    image_claim,
    image_confirm,
    image_create,
    image_delete,
    image_reject,
    image_submit,
    image_update,
    images_upload,
)
from tests.factories import ImageFactory, MaskFactory, TargetFactory, gradient, png_bytes

pytestmark = pytest.mark.django_db


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG whose IHDR claims width x height, with a tiny IDAT: decoding it would allocate gigabytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tiff_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def test_image_create_keeps_16bit_png_byte_for_byte(project, manager):
    pixels = gradient(20, 30, dtype=np.uint16)
    data = png_bytes(pixels)
    image = image_create(project=project, file_name="../../etc/a.png", data=data, actor=manager)
    assert (image.format, image.width, image.height, image.dtype, image.bit_depth) == ("PNG", 30, 20, "uint16", 16)
    assert image.original_name == "a.png"
    assert image.content_hash == hashlib.sha256(data).hexdigest()
    assert storage.read_original(image) == data
    assert np.array_equal(storage.read_pixels(image), pixels)
    assert image.file.name.endswith(f"{image.content_hash}.png")
    assert AuditLog.objects.filter(action="image.create", object_id=str(image.pk)).exists()


def test_image_create_tiff_16bit(project, manager):
    pixels = gradient(10, 12, dtype=np.uint16)
    data = tiff_bytes(pixels)
    image = image_create(project=project, file_name="a.png", data=data, actor=manager)  # the name lies: content wins
    assert (image.format, image.dtype) == ("TIFF", "uint16")
    assert image.file.name.endswith(".tif")
    assert storage.read_original(image) == data
    assert np.array_equal(storage.read_pixels(image), pixels)


def test_image_create_rgb_becomes_luminance(project, manager):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200
    image = image_create(project=project, file_name="rgb.png", data=png_bytes(rgb), actor=manager)
    assert (image.channels, image.dtype) == (3, "uint8")
    assert np.all(storage.read_pixels(image) == round(200 * 0.299))


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"just some text", 400, "not an image"),
        (png_bytes(gradient())[:100], 400, "truncated or corrupt"),
        (bomb_png(0, 0), 400, "empty"),
        (bomb_png(), 413, "too large"),
        (tiff_bytes(np.zeros((8, 8, 4), np.uint16), photometric="rgb"), 400, "16-bit TIFF with 4 channels"),
        (tiff_bytes(np.zeros((8, 8), np.float32)), 400, "float TIFF"),
    ],
    ids=["text", "truncated", "zero", "bomb", "rgba16", "float"],
)
def test_image_create_refuses_bad_input(project, manager, data, status, reason):
    with pytest.raises(ApplicationError) as caught:
        image_create(project=project, file_name="bad.png", data=data, actor=manager)
    assert caught.value.status_code == status
    assert caught.value.message.startswith("bad.png: ")
    assert reason in caught.value.message
    assert not Image.objects.exists()


def test_image_create_duplicate_is_409_and_keeps_the_first(project, manager):
    data = png_bytes(gradient())
    first = image_create(project=project, file_name="a.png", data=data, actor=manager)
    with pytest.raises(ConflictError) as caught:
        image_create(project=project, file_name="b.png", data=data, actor=manager)
    assert caught.value.extra["existing_image_id"] == first.pk
    assert "b.png" in caught.value.message
    assert storage.read_original(first) == data
    assert Image.objects.count() == 1


def test_images_upload_lands_the_good_files(project, manager):
    earlier = ImageFactory(project=project)
    before = storage.read_original(earlier)
    good = [png_bytes(gradient(seed=s)) for s in (1, 2)]
    files = [
        ("a.png", good[0]),
        ("text.png", b"nope"),
        ("bomb.png", bomb_png()),
        ("b.png", good[1]),
        ("dup.png", good[0]),
    ]
    created, errors = images_upload(project=project, files=files, actor=manager, split="val")
    assert [i.original_name for i in created] == ["a.png", "b.png"]
    assert {i.split for i in created} == {Split.VAL}
    assert [(e["file"], e["status"]) for e in errors] == [("text.png", 400), ("bomb.png", 413), ("dup.png", 409)]
    assert storage.read_original(earlier) == before
    assert Image.objects.filter(project=project).count() == 3


def test_image_update_split_checks_version(project, manager):
    image = ImageFactory(project=project)
    image = image_update(image=image, actor=manager, version=1, split="test")
    assert (image.split, image.version) == ("test", 2)
    with pytest.raises(ConflictError) as caught:
        image_update(image=image, actor=manager, version=1, split="val")
    assert caught.value.extra["current_version"] == 2
    image.refresh_from_db()
    assert image.split == "test"


def test_image_update_unknown_split(project, manager):
    with pytest.raises(ApplicationError):
        image_update(image=ImageFactory(project=project), actor=manager, version=1, split="holdout")


def test_image_delete_removes_row_and_file(project, manager, django_capture_on_commit_callbacks):
    image = ImageFactory(project=project)
    path = image.file.name
    with django_capture_on_commit_callbacks(execute=True):
        image_delete(image=image, actor=manager)
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not default_storage.exists(path)


def test_image_claim_returns_own_then_next_unassigned(project, member):
    first, second = ImageFactory(project=project), ImageFactory(project=project)
    alice, bob = member(Role.ANNOTATOR), member(Role.ANNOTATOR)
    assert image_claim(project=project, actor=alice).pk == first.pk
    assert image_claim(project=project, actor=alice).pk == first.pk
    assert image_claim(project=project, actor=bob).pk == second.pk
    with pytest.raises(ApplicationError) as caught:
        image_claim(project=project, actor=member(Role.ANNOTATOR))
    assert caught.value.status_code == 404


def test_workflow_submit_confirm_reject(project, annotator, reviewer):
    image = ImageFactory(project=project)
    mask = MaskFactory(target=TargetFactory(image=image))
    image = image_submit(image=image, actor=annotator)
    assert (image.status, image.assigned_to_id) == (ImageStatus.SUBMITTED, annotator.pk)
    image = image_reject(image=image, actor=reviewer, comment="missed one")
    assert image.status == ImageStatus.REJECTED
    assert AuditLog.objects.get(action="image.reject").data["comment"] == "missed one"
    image = image_submit(image=image, actor=annotator)
    image = image_confirm(image=image, actor=reviewer)
    assert image.status == ImageStatus.CONFIRMED
    mask.refresh_from_db()
    assert (mask.state, mask.confirmed_by_id) == (MaskState.CONFIRMED, reviewer.pk)
    with pytest.raises(ConflictError):
        image_submit(image=image, actor=annotator)


def test_submit_of_someone_elses_image_is_403(project, member):
    alice, bob = member(Role.ANNOTATOR), member(Role.ANNOTATOR)
    image = image_claim(project=ImageFactory(project=project).project, actor=alice)
    with pytest.raises(ApplicationError) as caught:
        image_submit(image=image, actor=bob)
    assert caught.value.status_code == 403


def test_confirm_refuses_rejected_masks(project, reviewer):
    image = ImageFactory(project=project)
    MaskFactory(target=TargetFactory(image=image), state=MaskState.REJECTED)
    with pytest.raises(ConflictError):
        image_confirm(image=image, actor=reviewer)


# --- review decisions that reach the annotator, and reviewer != annotator (issue 18, items 2, 3, 5) ----------------
def test_image_confirm_with_a_point_outside_mask_is_409_until_acknowledged(project, annotator, reviewer):
    image = ImageFactory(project=project)
    plain = MaskFactory(target=TargetFactory(image=image))
    outside = MaskFactory(target=TargetFactory(image=image, x=15, y=10), warnings=["point_outside"])
    image = image_submit(image=image, actor=annotator)
    with pytest.raises(ConflictError) as caught:
        image_confirm(image=image, actor=reviewer)
    assert caught.value.extra["needs_acknowledgement"] == ["point_outside"]
    assert caught.value.extra["targets"] == {"point_outside": [outside.target_id]}
    image.refresh_from_db()
    assert image.status == ImageStatus.SUBMITTED
    plain.refresh_from_db()
    assert plain.state == MaskState.PREDICTED  # nothing was confirmed
    image = image_confirm(image=image, actor=reviewer, acknowledge=["point_outside"])
    assert image.status == ImageStatus.CONFIRMED
    assert AuditLog.objects.get(action="image.confirm").data["acknowledged"] == ["point_outside"]


def test_image_reject_keeps_the_comment_who_and_when_on_the_image(project, annotator, reviewer):
    image = image_submit(image=ImageFactory(project=project), actor=annotator)
    image = image_reject(image=image, actor=reviewer, comment="target 2 is two targets")
    image = Image.objects.get(pk=image.pk)
    assert (image.rejection_comment, image.rejected_by_id) == ("target 2 is two targets", reviewer.pk)
    assert image.rejected_at is not None


def test_the_submitter_cannot_confirm_when_the_project_has_two_reviewers(project, member):
    alice, bob = member(Role.REVIEWER), member(Role.REVIEWER)
    image = image_submit(image=ImageFactory(project=project), actor=alice)
    assert image.submitted_by_id == alice.pk
    with pytest.raises(ApplicationError) as caught:
        image_confirm(image=image, actor=alice)
    assert caught.value.status_code == 403 and "another reviewer" in caught.value.message
    mask = MaskFactory(target=TargetFactory(image=image))
    from labeling.services import mask_confirm

    with pytest.raises(ApplicationError) as caught:
        mask_confirm(mask=mask, actor=alice)
    assert caught.value.status_code == 403
    assert image_confirm(image=image, actor=bob).status == ImageStatus.CONFIRMED


def test_the_rule_is_off_with_one_reviewer_and_follows_the_setting(project, member):
    from labeling.services import project_update

    owner = member(Role.OWNER)
    image = image_submit(image=ImageFactory(project=project), actor=owner)
    assert image_confirm(image=image, actor=owner).status == ImageStatus.CONFIRMED  # alone: nobody else could
    project = project_update(project=project, actor=owner, version=1, settings={"review": {"separate_reviewer": True}})
    second = image_submit(image=ImageFactory(project=project), actor=owner)
    with pytest.raises(ApplicationError):
        image_confirm(image=second, actor=owner)
    member(Role.MANAGER)  # a second reviewer-or-above would turn it on, but the project turned it off explicitly
    project_update(project=project, actor=owner, version=2, settings={"review": {"separate_reviewer": False}})
    assert image_confirm(image=second, actor=owner).status == ImageStatus.CONFIRMED
    with pytest.raises(ApplicationError):
        project_update(project=project, actor=owner, version=3, settings={"review": {"separate_reviewer": "yes"}})


def test_whoever_placed_the_points_of_an_unsubmitted_image_cannot_confirm_it(project, member):
    alice, bob = member(Role.REVIEWER), member(Role.REVIEWER)
    image = ImageFactory(project=project)
    TargetFactory(image=image, created_by=alice)
    with pytest.raises(ApplicationError) as caught:
        image_confirm(image=image, actor=alice)
    assert caught.value.status_code == 403
    assert image_confirm(image=image, actor=bob).status == ImageStatus.CONFIRMED
