"""Export -> import into a new project -> export: masks byte for byte, points exactly, originals untouched."""

import json

import numpy as np
import pytest

from labeling import storage
from labeling.choices import ImageStatus, MaskSource, MaskState, Role
from labeling.models import Image, Mask, Target
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, gradient
from tests.labeling.services.datasets.helpers import raster, run_export, run_import

pytestmark = pytest.mark.django_db

COMPARED = ("images/", "masks/", "points/", "instances/", "splits/", "unconfirmed/")


def _confirmed(target, mask_raster, user):
    return MaskFactory(
        target=target, raster=mask_raster, state=MaskState.CONFIRMED, source=MaskSource.HUMAN, confirmed_by=user
    )


@pytest.fixture
def source_project():
    """Hard cases: 1-pixel targets, 2-pixel diagonal targets, targets on every border, 16-bit frames."""
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.OWNER).user
    h, w = 20, 24
    hot = ImageFactory(project=project, original_name="hot16.png", pixels=gradient(h, w, seed=1, dtype=np.uint16))
    one = TargetFactory(image=hot, x=3.25, y=4.0)
    _confirmed(one, raster(h, w, (4, 3)), user)  # one pixel
    diagonal = TargetFactory(image=hot, x=10.5, y=10.5)
    _confirmed(diagonal, raster(h, w, (10, 10), (11, 11)), user)  # two pixels touching at a corner only
    corner = TargetFactory(image=hot, x=-0.4, y=-0.5)
    _confirmed(corner, raster(h, w, (0, 0), (1, 0)), user)  # top-left corner, on the border
    edge = TargetFactory(image=hot, x=23.49, y=19.2)
    _confirmed(edge, raster(h, w, (19, 23), (19, 22), (18, 23)), user)  # bottom-right corner
    right = TargetFactory(image=hot, x=23.0, y=9.0)
    _confirmed(right, raster(h, w, (9, 23)), user)  # right border, touching nothing
    hot.status = ImageStatus.CONFIRMED
    hot.save()
    plain = ImageFactory(project=project, original_name="plain8.png", pixels=gradient(12, 16, seed=2), split="val")
    pointed = TargetFactory(image=plain, x=7.75, y=2.125)  # a point whose mask is still to be made
    _confirmed(TargetFactory(image=plain, x=0.0, y=11.0), raster(12, 16, (11, 0)), user)
    ImageFactory(project=project, original_name="empty.png", pixels=gradient(8, 8, seed=3), split="test")
    return project, user, {"hot": hot, "plain": plain, "pointed": pointed}


def _entries(zf) -> dict[str, bytes]:
    return {name: zf.read(name) for name in zf.namelist() if name.startswith(COMPARED)}


@pytest.mark.parametrize("formats", [None, ["sirst"], ["sirst", "instances"]], ids=["coco", "sirst", "instances"])
def test_round_trip_is_exact(source_project, formats):
    """Through COCO (the default import source when present), the SIRST tree alone, and the instance PNGs."""
    project, user, objects = source_project
    job, first = run_export(project, user, formats=formats)
    assert job.status == "succeeded", job.message
    target = ProjectFactory()
    MembershipFactory(project=target, role=Role.OWNER, user=user)
    imported = run_import(target, user, open(first.filename, "rb").read(), confirm=True)
    assert imported.status == "succeeded", imported.message
    assert imported.errors == []
    assert imported.result["counts"]["images"] == 3
    coco = formats is None
    assert ("coco" in imported.result["formats"]) == coco
    # plain8 is not fully confirmed, so the SIRST tree has no mask for it: its one confirmed mask travels in COCO only
    assert imported.result["counts"]["targets"] == 7 and imported.result["counts"]["masks"] == (6 if coco else 5)
    _, second = run_export(target, user, formats=formats)

    a, b = _entries(first), _entries(second)
    assert sorted(a) == sorted(b)
    # only hot16 is complete: plain8 has a point without a mask, empty.png was never confirmed empty
    assert [n for n in a if n.startswith("masks/")] == ["masks/hot16.png"]
    for name in a:
        if name == "points/plain8.json" and not coco:
            continue  # its confirmed mask's state, which a SIRST tree cannot carry back
        assert a[name] == b[name], f"{name} differs after the round trip"
    # the originals are the uploaded bytes, 16-bit kept
    hot = Image.objects.get(project=target, original_name="hot16.png")
    assert hot.bit_depth == 16 and hot.content_hash == objects["hot"].content_hash
    assert a["images/hot16.png"] == storage.read_original(objects["hot"])
    # masks per target, exactly the source's, and confirmed because the importer said so
    source = {(t.x, t.y): t.mask.rle for t in Target.objects.filter(image=objects["hot"]).select_related("mask")}
    copied = {(t.x, t.y): t.mask for t in Target.objects.filter(image=hot).select_related("mask")}
    assert set(source) == set(copied)
    for point, rle in source.items():
        assert copied[point].rle == rle
        assert copied[point].state == MaskState.CONFIRMED and copied[point].source == MaskSource.IMPORT
    assert Image.objects.get(project=target, original_name="plain8.png").split == "val"
    # the point without a mask came back as a point, still without one (generation is queued)
    plain_targets = Target.objects.filter(image__project=target, image__original_name="plain8.png")
    assert {(t.x, t.y) for t in plain_targets} == {(7.75, 2.125), (0.0, 11.0)}
    assert not Mask.objects.filter(target__x=7.75, target__image__project=target).exists()


def test_export_layout_and_points(source_project):
    project, user, _ = source_project
    job, zf = run_export(project, user)
    names = set(zf.namelist())
    assert {"manifest.json", "SHA256SUMS", "annotations/instances.json", "splits/train.txt"} <= names
    assert zf.read("unconfirmed/val.txt") == b"plain8\n" and zf.read("unconfirmed/test.txt") == b"empty\n"
    assert not any(
        n.startswith(("masks/plain8", "masks/empty", "instances/plain8", "splits/val", "splits/test")) for n in names
    )
    mask = storage.mask_png_decode(zf.read("masks/hot16.png"), 20, 24)
    assert mask.sum() == 1 + 2 + 2 + 3 + 1
    points = json.loads(zf.read("points/hot16.json"))
    assert [(p["x"], p["y"]) for p in points["points"]] == [
        (3.25, 4.0),
        (10.5, 10.5),
        (-0.4, -0.5),
        (23.49, 19.2),
        (23.0, 9.0),
    ]
    instances = np.asarray(
        __import__("PIL.Image", fromlist=["Image"]).open(__import__("io").BytesIO(zf.read("instances/hot16.png")))
    )
    assert instances.dtype == np.uint16 and sorted(np.unique(instances).tolist()) == [0, 1, 2, 3, 4, 5]
    assert instances[4, 3] == 1 and instances[10, 10] == instances[11, 11] == 2
    centroid = storage.mask_png_decode(zf.read("points/centroid/hot16.png"), 20, 24)
    assert centroid[4, 3] and centroid[10, 10] and centroid[0, 0]  # floor of each mask's centroid
    coarse = storage.mask_png_decode(zf.read("points/coarse/hot16.png"), 20, 24)
    assert coarse[4, 3] and coarse[0, 0] and coarse[19, 23]  # the clicked points, rounded
    coco = json.loads(zf.read("annotations/instances.json"))
    assert len(coco["images"]) == 3 and len(coco["annotations"]) == 6  # the point without a mask is no empty mask
    plain = next(i for i in coco["images"] if i["file_name"] == "plain8.png")
    assert plain["complete"] is False
    assert plain["unmasked_points"] == [{"x": 7.75, "y": 2.125, "index": 0, "state": None}]
    first = coco["annotations"][0]
    assert first["keypoints"] == [3.25, 4.0, 2] and first["attributes"]["state"] == "confirmed"
    assert first["attributes"]["confirmed_by"] == user.username
    from pycocotools import mask as coco_mask

    rle = {"size": first["segmentation"]["size"], "counts": first["segmentation"]["counts"].encode()}
    assert coco_mask.decode(rle).sum() == 1 and coco_mask.decode(rle)[4, 3] == 1
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["counts"]["images"] == 3 and manifest["counts"]["confirmed_masks"] == 6
    assert (manifest["counts"]["frames_complete"], manifest["counts"]["frames_unconfirmed"]) == (1, 2)
    assert manifest["confirmed_by"] == {user.username: {"masks": 6, "images": 2}}
    import hashlib

    sums = dict(reversed(line.split("  ", 1)) for line in zf.read("SHA256SUMS").decode().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == digest


def test_export_filters_confirmed_only_and_split(source_project):
    project, user, _ = source_project
    _, confirmed = run_export(project, user, confirmed_only=True)
    assert [n for n in confirmed.namelist() if n.startswith("images/")] == ["images/hot16.png"]
    _, val = run_export(project, user, split="val", formats=["sirst"])
    assert [n for n in val.namelist() if n.startswith("images/")] == ["images/plain8.png"]
    assert "annotations/instances.json" not in val.namelist() and val.read("unconfirmed/val.txt") == b"plain8\n"
    assert "splits/val.txt" not in val.namelist() and "masks/plain8.png" not in val.namelist()
