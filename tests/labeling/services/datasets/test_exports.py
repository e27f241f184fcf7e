"""Export streams: its memory does not grow with the project; a cancelled export leaves no file behind; no frame with
targets is ever written as an empty (or partial) mask."""

import tracemalloc

import numpy as np
import pytest

from labeling.choices import JobStatus, MaskState, Role
from labeling.models import Job
from labeling.services.datasets import dataset_export, dataset_export_request
from labeling.services.datasets import exports as exports_module
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, gradient

pytestmark = pytest.mark.django_db


def _project(n: int):
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.MANAGER).user
    for i in range(n):
        image = ImageFactory(project=project, pixels=gradient(128, 128, seed=1000 + i, dtype=np.uint16))
        MaskFactory(target=TargetFactory(image=image, x=20 + i % 50, y=30), state=MaskState.CONFIRMED)
    return project, user


def _peak(project, user) -> int:
    job = dataset_export_request(project=project, actor=user, enqueue=False)
    tracemalloc.start()
    try:
        dataset_export(job_id=job.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    return peak


def test_export_memory_is_flat_as_the_project_grows(monkeypatch):
    monkeypatch.setattr(exports_module, "CHUNK", 10)
    small = _peak(*_project(10))
    large = _peak(*_project(80))
    # what grows is the zip central directory (about 0.5 KB a file); 70 more originals alone would be 2.2 MB
    assert large < small * 1.5, (small, large)


def test_a_cancelled_export_leaves_no_file(monkeypatch, settings):
    project, user = _project(3)
    job = dataset_export_request(project=project, actor=user, enqueue=False)
    monkeypatch.setattr(exports_module, "CHUNK", 1)
    original = exports_module._Export.add

    def add_then_cancel(self, image):
        original(self, image)
        Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
        monkeypatch.setattr(exports_module.time, "monotonic", lambda: 1e12)  # the next progress check is due

    monkeypatch.setattr(exports_module._Export, "add", add_then_cancel)
    dataset_export(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    folder = settings.MEDIA_ROOT / "exports" / str(project.pk)
    assert [p.name for p in folder.iterdir()] == []


def test_no_frame_with_targets_is_exported_as_an_empty_or_partial_mask(tmp_path):
    """Issue 18, item 4: the default export, unzipped and read back as a training tree (ml.data) and as COCO
    (pycocotools). Frames not fully confirmed are left out of masks/, instances/ and splits/, listed in unconfirmed/;
    COCO keeps their masks with their state and lists targets without a mask instead of writing empty ones."""
    import json
    import zipfile

    from pycocotools.coco import COCO

    from labeling.choices import ImageStatus, MaskSource
    from ml.data import load_samples, read_mask
    from tests.labeling.services.datasets.helpers import run_export

    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.MANAGER).user

    def frame(name, status=ImageStatus.IN_PROGRESS, **masks):
        image = ImageFactory(project=project, original_name=f"{name}.png", status=status)
        for i, state in enumerate(masks.get("states", [])):
            target = TargetFactory(image=image, x=4 + 6 * i, y=5)
            if state is not None:
                MaskFactory(target=target, state=state, source=MaskSource.COLDSTART)
        return image

    frame("done", ImageStatus.CONFIRMED, states=[MaskState.CONFIRMED, MaskState.CONFIRMED])
    frame("predicted", states=[MaskState.PREDICTED])  # the case: targets, none confirmed yet
    frame("half", ImageStatus.SUBMITTED, states=[MaskState.CONFIRMED, MaskState.EDITED])
    frame("rejected", states=[MaskState.CONFIRMED, MaskState.REJECTED])
    frame("pointed", states=[None])  # a point whose mask is still to be made
    frame("unlabelled", ImageStatus.NEW)
    frame("empty", ImageStatus.CONFIRMED)  # confirmed: there is no target on it

    job, zf = run_export(project, user)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert "5 not fully confirmed" in job.message and "unconfirmed/" in job.message  # shown in the dashboard's jobs
    root = tmp_path / "export"
    zipfile.ZipFile(zf.filename).extractall(root)
    with_targets = {p.stem for p in (root / "points").glob("*.json") if json.loads(p.read_text())["points"]}
    assert with_targets == {"done", "predicted", "half", "rejected", "pointed"}

    masks = {p.stem: read_mask(p) for p in (root / "masks").glob("*.png")}
    assert set(masks) == {"done", "empty"}
    assert all(masks[stem].any() for stem in set(masks) & with_targets)  # never an empty mask for targets
    assert masks["done"].sum() == 18 and not masks["empty"].any()
    assert {p.stem for p in (root / "instances").glob("*.png")} == {"done", "empty"}
    assert (root / "splits" / "train.txt").read_text().split() == ["done", "empty"]
    left_out = (root / "unconfirmed" / "train.txt").read_text().split()
    assert left_out == ["predicted", "half", "rejected", "pointed", "unlabelled"]
    samples = {s.id: s for s in load_samples(root, "train")}  # what a training run reads
    assert set(samples) == {"done", "empty"} and samples["done"].mask.sum() == 18

    manifest = json.loads((root / "manifest.json").read_text())
    assert (manifest["counts"]["frames_complete"], manifest["counts"]["frames_unconfirmed"]) == (2, 5)
    assert "unconfirmed/" in manifest["layout"] and "complete" in manifest["complete_frames"]

    coco = COCO(str(root / "annotations" / "instances.json"))
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert coco.annToMask(ann).sum() > 0, ann["attributes"]  # no empty segmentation anywhere
    images = {i["file_name"]: i for i in coco.dataset["images"]}
    states = {
        name: [a["attributes"]["state"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[i["id"]]))]
        for name, i in images.items()
    }
    assert states["predicted.png"] == ["predicted"] and states["half.png"] == ["confirmed", "edited"]
    assert states["rejected.png"] == ["confirmed"] and states["pointed.png"] == []
    assert images["rejected.png"]["unmasked_points"] == [{"x": 10.0, "y": 5.0, "index": 1, "state": "rejected"}]
    assert images["pointed.png"]["unmasked_points"] == [{"x": 4.0, "y": 5.0, "index": 0, "state": None}]
    assert {n: i["complete"] for n, i in images.items() if i["complete"]} == {"done.png": True, "empty.png": True}
