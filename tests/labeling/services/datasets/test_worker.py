"""Import and export through a real Celery worker on the real Redis broker (no eager mode)."""

import io
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling import storage
from labeling.choices import JobStatus, MaskState, Role
from labeling.models import Mask
from labeling.services.datasets import dataset_export_request, dataset_import_request, export_file
from labeling.services.jobs import job_wait
from tests.factories import MembershipFactory, ProjectFactory
from tests.labeling.services.datasets.helpers import frame, mask_png, raster, zip_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_imports_then_exports(worker):
    project = ProjectFactory()
    user = MembershipFactory(project=project, role=Role.MANAGER).user
    union = raster(16, 24, (2, 2), (9, 20))
    data = zip_bytes(
        {"images/a.png": frame(seed=11), "masks/a.png": mask_png(union), "images/b.png": frame(seed=12), "x.bin": b"?"}
    )
    job = dataset_import_request(project=project, upload=SimpleUploadedFile("d.zip", data), actor=user, confirm=True)
    job = job_wait(job, 60)
    assert job.status == JobStatus.SUCCEEDED, job.message
    job.refresh_from_db()
    assert job.result["counts"]["images"] == 2 and job.result["counts"]["masks"] == 2
    assert job.errors == [
        {"item": "x.bin", "message": "x.bin: not an image or a label file of a known layout: skipped"}
    ]
    assert set(Mask.objects.filter(image__project=project).values_list("state", flat=True)) == {MaskState.CONFIRMED}

    export = job_wait(dataset_export_request(project=project, actor=user), 60)
    assert export.status == JobStatus.SUCCEEDED, export.message
    archive = zipfile.ZipFile(io.BytesIO(export_file(export, actor=user).read_bytes()))
    assert np.array_equal(storage.mask_png_decode(archive.read("masks/a.png"), 16, 24), union)
    assert archive.read("images/b.png") == frame(seed=12)
