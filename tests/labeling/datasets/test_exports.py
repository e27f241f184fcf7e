"""Export streams: its memory does not grow with the project; a cancelled export leaves no file behind."""

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
