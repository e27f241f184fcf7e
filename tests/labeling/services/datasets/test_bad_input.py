"""Hostile or broken sources: each bad file is refused with a message naming it, the rest lands, nothing else moves."""

import io
import zipfile

import numpy as np
import pytest
from django.conf import settings

from labeling import storage
from labeling.choices import JobStatus, MaskSource, MaskState, Role
from labeling.models import AuditLog, Image, Mask, Target
from labeling.services.datasets.archive import FolderSource
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, TargetFactory
from tests.labeling.services.datasets.helpers import (
    files_under,
    frame,
    mask_png,
    messages,
    raster,
    run_import,
    symlink_entry,
    zip_bytes,
)

pytestmark = pytest.mark.django_db

GOOD = frame(seed=1)


@pytest.fixture
def importer(project):
    return MembershipFactory(project=project, role=Role.MANAGER).user


def _landed(project) -> list[str]:
    return sorted(Image.objects.filter(project=project).values_list("original_name", flat=True))


def test_zip_slip_paths_are_refused_and_nothing_is_written_outside_media(project, importer, tmp_path):
    outside_before = {p for p in files_under(tmp_path) if settings.MEDIA_ROOT not in p.parents}
    data = zip_bytes(
        {
            "../evil.png": frame(seed=2),
            "images/../../evil2.png": frame(seed=3),
            "/etc/evil3.png": frame(seed=4),
            "..\\evil4.png": frame(seed=5),
            "C:/evil5.png": frame(seed=6),
            "images/good.png": GOOD,
        }
    )
    job = run_import(project, importer, data)
    assert job.status == JobStatus.SUCCEEDED
    text = messages(job)
    assert text.count("zip slip") == 5
    assert "../evil.png" in text and "/etc/evil3.png" in text
    assert _landed(project) == ["good.png"]
    outside_after = {p for p in files_under(tmp_path) if settings.MEDIA_ROOT not in p.parents}
    assert outside_after == outside_before
    assert not any("evil" in p.name for p in files_under(tmp_path))


def test_symlinks_in_a_zip_are_refused(project, importer):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        symlink_entry(zf, "images/link.png", "/etc/passwd")
        zf.writestr("images/good.png", GOOD)
    job = run_import(project, importer, buffer.getvalue())
    assert "images/link.png: symbolic link: refused" in messages(job)
    assert _landed(project) == ["good.png"]


def test_symlinks_in_a_folder_are_not_followed(tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "images" / "good.png").write_bytes(GOOD)
    (tmp_path / "secret.png").write_bytes(frame(seed=9))
    (root / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    (root / "linked_dir").symlink_to(tmp_path)
    source = FolderSource(root)
    assert set(source.entries) == {"images/good.png"}
    assert {s["item"] for s in source.skipped} == {"images/link.png", "linked_dir"}


def test_zip_bomb_member_over_the_ratio_is_refused(project, importer, settings):
    settings.DATASET_RATIO_MIN_BYTES = 1024
    data = zip_bytes({"images/bomb.png": b"\x89PNG\r\n\x1a\n" + bytes(4 * 1024 * 1024), "images/good.png": GOOD})
    job = run_import(project, importer, data)
    assert job.status == JobStatus.SUCCEEDED
    assert "images/bomb.png: expands" in messages(job) and "zip bomb" in messages(job)
    assert _landed(project) == ["good.png"]


def test_archive_over_the_total_size_limit_is_refused_whole(project, importer, settings):
    before = Image.objects.count()
    settings.DATASET_MAX_TOTAL_BYTES = len(GOOD) * 2
    data = zip_bytes({f"images/{i}.png": frame(seed=i) for i in range(3)})
    job = run_import(project, importer, data)
    assert job.status == JobStatus.FAILED
    assert "limit is" in job.message and "bytes" in job.message
    assert Image.objects.count() == before


def test_too_many_files_refuses_the_archive(project, importer, settings):
    settings.DATASET_MAX_MEMBERS = 3
    job = run_import(project, importer, zip_bytes({f"images/{i}.png": frame(seed=i) for i in range(5)}))
    assert job.status == JobStatus.FAILED
    assert "holds 5 files; the limit is 3" in job.message
    assert _landed(project) == []
    assert not list((settings.MEDIA_ROOT / "imports").rglob("*.zip"))  # the refused upload is not kept


def test_nested_archives_are_not_opened(project, importer):
    inner = zip_bytes({"images/inner.png": frame(seed=7)})
    data = zip_bytes({"images/inner.zip": inner, "images/disguised.png": inner, "images/good.png": GOOD})
    job = run_import(project, importer, data)
    text = messages(job)
    assert "images/inner.zip: nested archive" in text
    assert "images/disguised.png: a nested archive named like an image" in text
    assert _landed(project) == ["good.png"]


def test_non_image_and_corrupt_files_are_skipped(project, importer):
    data = zip_bytes(
        {
            "notes.docx": b"PK-ish but not",
            "images/readme.png": b"hello, I am text",
            "images/cut.png": GOOD[: len(GOOD) // 2],
            "images/good.png": GOOD,
        }
    )
    job = run_import(project, importer, data)
    text = messages(job)
    assert "notes.docx: not an image or a label file" in text
    assert "images/readme.png: readme.png: not an image" in text
    assert "images/cut.png: cut.png: the PNG file is truncated or corrupt" in text
    assert _landed(project) == ["good.png"]
    assert job.result["counts"]["skipped"] == 3


def test_mask_of_another_size_and_soft_mask_are_skipped(project, importer):
    soft = np.zeros((16, 24), np.uint8)
    soft[2, 2], soft[3, 3] = 255, 115  # as in EDGSP's fixed/masks/XDU325.png
    data = zip_bytes(
        {
            "images/a.png": frame(seed=1),
            "masks/a.png": mask_png(raster(10, 10, (1, 1))),
            "images/b.png": frame(seed=2),
            "masks/b.png": storage.pixels_png_encode(soft),
            "images/c.png": frame(seed=3),
            "masks/c.png": mask_png(raster(16, 24, (5, 5))),
        }
    )
    job = run_import(project, importer, data, confirm=True)
    text = messages(job)
    assert "masks/a.png: the mask is 10x10, its image is 24x16" in text
    assert "masks/b.png: the mask has soft values (0, 115, 255)" in text
    assert _landed(project) == ["a.png", "b.png", "c.png"]
    assert Target.objects.filter(image__project=project).count() == 1
    assert Mask.objects.get(image__original_name="c.png").state == MaskState.CONFIRMED


def test_duplicate_names_keep_the_first(project, importer):
    data = zip_bytes(
        [("images/a.png", frame(seed=1)), ("images/a.tif", frame(seed=2)), ("images/b.png", frame(seed=3))]
        + [("images/b.png", frame(seed=4))]
    )
    job = run_import(project, importer, data)
    text = messages(job)
    assert "images/a.tif: duplicate name" in text
    assert "images/b.png: duplicate name in the source" in text
    assert _landed(project) == ["a.png", "b.png"]
    b = Image.objects.get(project=project, original_name="b.png")
    assert storage.read_original(b) == frame(seed=3)


def test_coco_referring_to_missing_images(project, importer):
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 16, "width": 24}, {"id": 2, "file_name": "gone.png"}],
        "annotations": [
            {"id": 1, "image_id": 1, "segmentation": [[2, 2, 6, 2, 6, 6, 2, 6]], "keypoints": [4, 4, 2]},
            {"id": 2, "image_id": 2, "segmentation": [[1, 1, 3, 1, 3, 3]]},
            {"id": 3, "image_id": 77, "segmentation": [[1, 1, 3, 1, 3, 3]]},
        ],
    }
    import json

    data = zip_bytes({"images/a.png": frame(seed=1), "annotations.json": json.dumps(coco).encode()})
    job = run_import(project, importer, data)
    text = messages(job)
    assert "COCO image 'gone.png' (id 2) is not in the source" in text
    assert "annotation 2 refers to image id 77, not listed" in text
    target = Target.objects.get(image__project=project)
    assert (target.x, target.y) == (4.0, 4.0) and target.mask.area > 0


def test_malformed_json_is_reported_with_its_position(project, importer):
    data = zip_bytes(
        {
            "images/a.png": frame(seed=1),
            "points/a.json": b'{"points": [{"x": 1, "y": 2},]}',
            "annotations/coco.json": b"\xff\xfe not utf8",
        }
    )
    job = run_import(project, importer, data)
    text = messages(job)
    assert "points/a.json: malformed JSON: Expecting value at line 1 column 30" in text
    assert "annotations/coco.json: malformed JSON: not UTF-8" in text
    assert _landed(project) == ["a.png"]


def test_points_out_of_bounds_are_refused_and_the_image_still_lands(project, importer):
    data = zip_bytes({"images/a.png": frame(seed=1), "points/a.json": b'{"points": [{"x": 1, "y": 99}]}'})
    job = run_import(project, importer, data)
    assert "point 0: y=99 lies outside the 24x16 image" in messages(job)
    assert _landed(project) == ["a.png"] and not Target.objects.filter(image__project=project).exists()


def test_nothing_already_in_the_project_changes(project, importer):
    existing = ImageFactory(project=project, data=GOOD, original_name="kept.png")
    mask = MaskFactory(target=TargetFactory(image=existing, x=5, y=4), state=MaskState.CONFIRMED)
    before = (existing.version, mask.rle, mask.version, Target.objects.filter(image=existing).count())
    data = zip_bytes(
        {"images/same.png": GOOD, "masks/same.png": mask_png(raster(16, 24, (0, 0))), "images/new.png": frame(seed=5)}
    )
    job = run_import(project, importer, data, confirm=True)
    assert "images/same.png: same.png: duplicate of image" in messages(job)
    existing.refresh_from_db()
    mask.refresh_from_db()
    assert (existing.version, mask.rle, mask.version, Target.objects.filter(image=existing).count()) == before
    assert mask.source == MaskSource.COLDSTART
    assert _landed(project) == ["kept.png", "new.png"]


def test_a_redelivered_job_imports_nothing_twice(project, importer):
    """The worker died after the images landed but before the job finished: the rerun skips them, quietly."""
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    from labeling.models import Job
    from labeling.services.datasets import dataset_import, dataset_import_request

    data = zip_bytes({"images/a.png": frame(seed=1), "masks/a.png": mask_png(raster(16, 24, (3, 3)))})
    upload = SimpleUploadedFile("d.zip", data)
    job = dataset_import_request(project=project, upload=upload, actor=importer, enqueue=False)
    stored = Path(settings.MEDIA_ROOT) / job.payload["path"]
    dataset_import(job_id=job.pk)
    stored.write_bytes(data)  # as if it had died before removing the spent upload and finishing
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    dataset_import(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.errors == []
    assert job.result["counts"]["already_imported"] == 1 and job.result["counts"]["images"] == 0
    assert Target.objects.filter(image__project=project).count() == 1
    assert AuditLog.objects.filter(action="image.import").count() == 1
    assert not stored.exists()
