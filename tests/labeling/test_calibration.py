"""Per-project calibration: alpha chosen on the confirmed masks by a real worker, stored with its figures."""

import numpy as np
import pytest

from labeling.choices import ImageStatus, JobStatus, MaskState, Role
from labeling.exceptions import ApplicationError
from labeling.models import Job
from labeling.services.calibration import MIN_CONFIRMED_IMAGES, calibration_status, project_calibration_request
from labeling.services.generation import generator_spec, job_wait
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory


def _frame(seed: int) -> tuple[np.ndarray, list[tuple[float, float]], list[np.ndarray]]:
    """A 48x64 frame with two Gaussian targets, and 'halo-style' masks: everything above 12% of the peak."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    frame = 1000 + rng.normal(0, 4, (48, 64))
    points, masks = [], []
    for cy, cx in ((14 + seed % 5, 16), (32, 44 - seed % 7)):
        blob = 900 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.6**2))
        frame += blob
        points.append((float(cx), float(cy)))
        masks.append(blob > 0.12 * 900)
    return np.clip(frame, 0, 65535).astype(np.uint16), points, masks


def _confirmed_project(n_images: int):
    project = ProjectFactory()
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    for seed in range(n_images):
        pixels, points, masks = _frame(seed)
        image = ImageFactory(project=project, pixels=pixels, status=ImageStatus.CONFIRMED)
        for (x, y), raster in zip(points, masks, strict=True):
            MaskFactory(target=TargetFactory(image=image, x=x, y=y), raster=raster, state=MaskState.CONFIRMED)
    return project, manager


@pytest.mark.django_db
def test_too_few_confirmed_images_is_refused_with_the_count():
    project, manager = _confirmed_project(3)
    with pytest.raises(ApplicationError, match=f"at least {MIN_CONFIRMED_IMAGES} confirmed images; .* has 3"):
        project_calibration_request(project=project, actor=manager)
    assert calibration_status(project) == {"confirmed_images": 3, "minimum": 15, "due": False, "current": None}


@pytest.mark.django_db
def test_annotator_may_not_calibrate():
    project, _ = _confirmed_project(1)
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with pytest.raises(ApplicationError):
        project_calibration_request(project=project, actor=annotator)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_calibrates_to_the_projects_annotation_style(celery_worker_process, settings):
    settings.MEDIA_ROOT = celery_worker_process.media_root
    project, manager = _confirmed_project(MIN_CONFIRMED_IMAGES)
    assert calibration_status(project)["due"] is True

    job = job_wait(project_calibration_request(project=project, actor=manager, regenerate=True), 60)

    assert job.status == JobStatus.SUCCEEDED, job.message
    project.refresh_from_db()
    calibration = project.settings["calibration"]
    assert calibration["alpha"] < 0.35  # halo-style masks want a looser threshold than the default
    figures = calibration["figures"]
    assert figures["calibrated"]["iou"] > figures["default"]["iou"] + 5
    assert calibration["n_images"] == MIN_CONFIRMED_IMAGES and calibration["n_targets"] == 2 * MIN_CONFIRMED_IMAGES
    assert project.settings["generator"]["alpha"] == calibration["alpha"]
    assert generator_spec(project).alpha == calibration["alpha"]  # new clicks use it at once
    assert Job.objects.filter(pk=job.result["prelabel_job"]).exists()  # the offer to regenerate was taken
    assert calibration_status(project)["due"] is False  # not again until the confirmed set doubles


@pytest.mark.django_db
@pytest.mark.parametrize("seen_share", [0, 1])
def test_base_weights_are_never_judged_on_frames_they_were_trained_on(seen_share, monkeypatch, tmp_path):
    """Importing the dataset the base weights came from must not make them win by memory (run in process)."""
    from labeling import ml_adapter
    from labeling.models import Image
    from labeling.services.calibration import project_calibrate
    from ml.checkpoints import update_checkpoint_meta

    project, manager = _confirmed_project(MIN_CONFIRMED_IMAGES)
    base = tmp_path / "base.pt"
    base.write_bytes(ml_adapter.shipped_weights().read_bytes())
    seen = sorted(Image.objects.filter(project=project).values_list("content_hash", flat=True)) if seen_share else []
    update_checkpoint_meta(base, {"seen_sha256": seen})
    monkeypatch.setattr(ml_adapter, "shipped_weights", lambda: base)
    job = project_calibration_request(project=project, actor=manager, regenerate=False)

    project_calibrate(job_id=job.pk)

    project.refresh_from_db()
    figures = project.settings["calibration"]["figures"]
    assert figures["base_weights_seen_images"] == len(seen)
    job.refresh_from_db()
    if seen_share:  # nothing left to judge them on: they are not used
        assert "base_weights" not in figures and project.settings["calibration"]["base_weights_win"] is False
        assert f"base weights not used: they were trained on all {len(seen)} of these images" in job.message
    else:
        assert set(figures["base_weights"]) >= {"iou", "pd", "fat"}
        assert figures["calibrated_unseen"] == pytest.approx(figures["calibrated"])
        assert "base weights" in job.message and "not trained on" not in job.message
