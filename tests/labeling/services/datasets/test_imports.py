"""Import layouts: plain folders, SIRST trees with split lists, point JSON and point PNGs, COCO RLE and polygons."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from pycocotools import mask as coco_mask

from labeling import storage
from labeling.choices import ImageStatus, JobKind, JobStatus, MaskSource, MaskState, Role
from labeling.models import Image, Job, Mask, Target
from tests.factories import MembershipFactory
from tests.labeling.services.datasets.helpers import frame, mask_png, messages, raster, run_import, zip_bytes

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[4] / "labeling" / "demo" / "sirst"


@pytest.fixture
def importer(project):
    return MembershipFactory(project=project, role=Role.MANAGER).user


def test_sirst_folder_through_the_command_with_confirmed_masks(project, importer, capsys):
    call_command("importdataset", str(DEMO), "--project", str(project.pk), "--confirm", "--no-progress")
    job = Job.objects.get(project=project, kind=JobKind.IMPORT)
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100 and job.total == 6
    assert "Import job" in capsys.readouterr().out
    images = Image.objects.filter(project=project)
    assert images.count() == 6
    assert set(images.values_list("split", flat=True)) == {"train"}  # from train.txt
    assert set(images.values_list("status", flat=True)) == {ImageStatus.CONFIRMED}
    for image in images:
        gt = storage.mask_png_decode((DEMO / "masks" / image.original_name).read_bytes(), image.height, image.width)
        union = np.zeros_like(gt)
        for mask in Mask.objects.filter(image=image):
            assert mask.state == MaskState.CONFIRMED and mask.source == MaskSource.IMPORT
            union |= storage.mask_decode(mask.rle, image.height, image.width)
        assert np.array_equal(union, gt)  # every pixel kept, split into one target per component
        for target in Target.objects.filter(image=image).select_related("mask"):
            rows, cols = np.nonzero(storage.mask_decode(target.mask.rle, image.height, image.width))
            assert (target.x, target.y) == (np.floor(cols.mean()), np.floor(rows.mean()))  # LESPS centroid


def test_plain_folder_zip_takes_splits_from_folder_names(project, importer):
    data = zip_bytes({"train/a.png": frame(seed=1), "val/b.png": frame(seed=2), "c.png": frame(seed=3)})
    job = run_import(project, importer, data, split="test")
    assert job.status == JobStatus.SUCCEEDED and job.errors == []
    splits = dict(Image.objects.filter(project=project).values_list("original_name", "split"))
    assert splits == {"a.png": "train", "b.png": "val", "c.png": "test"}
    assert set(Image.objects.filter(project=project).values_list("status", flat=True)) == {ImageStatus.NEW}


def test_unconfirmed_import_awaits_review(project, importer):
    data = zip_bytes({"data/images/a.png": frame(seed=1), "data/masks/a.png": mask_png(raster(16, 24, (2, 3)))})
    job = run_import(project, importer, data)
    assert job.result["counts"] == {
        "images": 1,
        "already_imported": 0,
        "targets": 1,
        "masks": 1,
        "confirmed": 0,
        "skipped": 0,
    }
    mask = Mask.objects.get(image__project=project)
    assert mask.state == MaskState.EDITED and mask.confirmed_by is None
    assert mask.image.status == ImageStatus.IN_PROGRESS


def test_point_json_targets_are_sent_to_mask_generation(project, importer):
    data = zip_bytes(
        {
            "images/a.png": frame(seed=1),
            "images/b.png": frame(seed=2),
            "points/a.json": json.dumps({"points": [{"x": 3.5, "y": 2.25}, {"x": 10, "y": 7}]}).encode(),
            "labels.json": json.dumps({"b.png": [[1, 1]]}).encode(),
        }
    )
    job = run_import(project, importer, data)
    assert job.status == JobStatus.SUCCEEDED and job.errors == []
    points = sorted(Target.objects.filter(image__project=project).values_list("image__original_name", "x", "y"))
    assert points == [("a.png", 3.5, 2.25), ("a.png", 10.0, 7.0), ("b.png", 1.0, 1.0)]
    assert not Mask.objects.filter(image__project=project).exists()
    assert job.result["generating"] == 2 and job.result["generation_jobs"]
    generation = Job.objects.filter(pk__in=job.result["generation_jobs"])
    assert generation.count() >= 1 and {j.kind for j in generation} <= {JobKind.PRELABEL, JobKind.GENERATE}


def test_point_pngs_and_union_masks_make_one_target_per_point(project, importer):
    union = raster(16, 24, (5, 5), (5, 6), (5, 7), (5, 8), (12, 20))  # a bar holding two targets, and a lone pixel
    centroid = raster(16, 24, (5, 5), (5, 8))
    data = zip_bytes(
        {"images/a.png": frame(seed=1), "masks/a.png": mask_png(union), "Centroid/a.png": mask_png(centroid)}
    )
    run_import(project, importer, data, confirm=True)
    targets = list(Target.objects.filter(image__project=project).select_related("mask").order_by("id"))
    assert [(t.x, t.y) for t in targets] == [(5.0, 5.0), (8.0, 5.0), (20.0, 12.0)]
    rasters = [storage.mask_decode(t.mask.rle, 16, 24) for t in targets]
    assert rasters[0][5, 5] and rasters[0][5, 6] and rasters[1][5, 7] and rasters[1][5, 8]  # split by nearest point
    assert np.array_equal(rasters[0] | rasters[1] | rasters[2], union)


def test_coco_rle_uncompressed_rle_and_polygons(project, importer):
    a = raster(16, 24, (1, 1), (2, 2))
    compressed = coco_mask.encode(np.asfortranarray(a.astype(np.uint8)))
    b = raster(16, 24, (9, 9))
    flat = b.T.ravel()  # column-major runs, as COCO
    runs, value, count = [], False, 0
    for pixel in flat:
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    runs.append(count)
    coco = {
        "images": [{"id": 7, "file_name": "x/a.png", "height": 16, "width": 24}],
        "annotations": [
            {"id": 1, "image_id": 7, "segmentation": {"size": [16, 24], "counts": compressed["counts"].decode()}},
            {"id": 2, "image_id": 7, "segmentation": {"size": [16, 24], "counts": runs}, "keypoints": [9, 9, 2]},
            {"id": 3, "image_id": 7, "segmentation": [[14, 4, 19, 4, 19, 8, 14, 8]]},
            {"id": 4, "image_id": 7, "segmentation": {"size": [8, 8], "counts": [64]}},
        ],
    }
    data = zip_bytes({"images/a.png": frame(seed=1), "annotations/instances_train.json": json.dumps(coco).encode()})
    job = run_import(project, importer, data, confirm=True)
    assert "annotation 4 of a: the RLE size is [8, 8]" in messages(job)
    targets = list(Target.objects.filter(image__project=project).select_related("mask").order_by("id"))
    assert len(targets) == 3
    assert np.array_equal(storage.mask_decode(targets[0].mask.rle, 16, 24), a)
    assert (targets[0].x, targets[0].y) == (1.0, 1.0)  # no keypoint: the mask's centroid, floored
    assert np.array_equal(storage.mask_decode(targets[1].mask.rle, 16, 24), b) and targets[1].x == 9.0
    polygon = storage.mask_decode(targets[2].mask.rle, 16, 24)
    assert polygon[5, 16] and not polygon[0, 0] and polygon.sum() >= 20
    assert {t.mask.state for t in targets} == {MaskState.CONFIRMED}


def test_commands_import_a_zip_and_export_to_a_file(project, importer, tmp_path, capsys):
    archive = tmp_path / "in.zip"
    archive.write_bytes(zip_bytes({"images/a.png": frame(seed=1), "masks/a.png": mask_png(raster(16, 24, (4, 4)))}))
    call_command("importdataset", str(archive), "--project", str(project.pk), "--confirm", "--no-progress")
    assert Mask.objects.get(image__project=project).state == MaskState.CONFIRMED
    out = tmp_path / "out.zip"
    call_command("exportdataset", "--project", str(project.pk), "--out", str(out), "--no-progress")
    assert "Export job" in capsys.readouterr().out
    import zipfile

    with zipfile.ZipFile(out) as zf:
        mask = storage.mask_png_decode(zf.read("masks/a.png"), 16, 24)
    assert np.array_equal(mask, raster(16, 24, (4, 4)))
    assert not list((tmp_path / "media" / "imports").rglob("*.zip"))  # the spent copy of the zip is gone


def test_original_sirst_names_and_split_lists(project, importer):
    """YimianDai/sirst: masks/<id>_pixels0.png and idx_427/{train,val,trainval}.txt (a combined list is ignored)."""
    data = zip_bytes(
        {
            "sirst/images/Misc_1.png": frame(seed=1),
            "sirst/images/Misc_2.png": frame(seed=2),
            "sirst/masks/Misc_1_pixels0.png": mask_png(raster(16, 24, (3, 3))),
            "sirst/idx_427/trainval.txt": b"Misc_1\r\nMisc_2\r\n",
            "sirst/idx_427/train.txt": b"Misc_1\r\n",
            "sirst/idx_427/val.txt": b"Misc_2\r\n",
        }
    )
    job = run_import(project, importer, data, confirm=True)
    assert "trainval.txt: not an image or a label file" in messages(job)
    splits = dict(Image.objects.filter(project=project).values_list("original_name", "split"))
    assert splits == {"Misc_1.png": "train", "Misc_2.png": "val"}
    assert Mask.objects.get(image__project=project).image.original_name == "Misc_1.png"
