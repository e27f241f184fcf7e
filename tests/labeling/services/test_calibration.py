"""Per-project calibration: alpha chosen on the confirmed masks by a real worker, stored with its figures."""

import numpy as np
import pytest
from django.utils import timezone

from labeling.choices import GeneratorKind, ImageStatus, JobStatus, MaskState, ModelStatus, Role
from labeling.exceptions import ApplicationError
from labeling.models import Job, ModelVersion
from labeling.permissions import operator
from labeling.services.calibration import MIN_CONFIRMED_IMAGES, calibration_status, project_calibration_request
from labeling.services.jobs import job_wait
from labeling.services.serving import generator_spec
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
        image = ImageFactory(
            project=project, pixels=pixels, status=ImageStatus.CONFIRMED, first_confirmed_at=timezone.now()
        )
        for (x, y), raster in zip(points, masks, strict=True):
            MaskFactory(target=TargetFactory(image=image, x=x, y=y), raster=raster, state=MaskState.CONFIRMED)
    return project, manager


@pytest.mark.django_db
def test_a_project_without_confirmed_images_is_refused_with_the_count():
    project, manager = _confirmed_project(0)
    with pytest.raises(ApplicationError, match=f"at least {MIN_CONFIRMED_IMAGES} confirmed images; .* has 0"):
        project_calibration_request(project=project, actor=manager)
    status = calibration_status(project)
    assert (status["confirmed_images"], status["minimum"], status["due"], status["current"]) == (0, 1, False, None)


@pytest.mark.django_db
def test_annotator_may_not_calibrate():
    project, _ = _confirmed_project(1)
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    with pytest.raises(ApplicationError):
        project_calibration_request(project=project, actor=annotator)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_calibrates_to_the_projects_annotation_style_and_puts_it_in_shadow(celery_worker_process, settings):
    settings.MEDIA_ROOT = celery_worker_process.media_root
    project, manager = _confirmed_project(MIN_CONFIRMED_IMAGES)
    assert calibration_status(project)["due"] is True

    job = job_wait(project_calibration_request(project=project, actor=manager), 60)

    assert job.status == JobStatus.SUCCEEDED, job.message
    calibration = job.result["calibration"]
    assert calibration["alpha"] < 0.35  # halo-style masks want a looser threshold than the default
    figures = calibration["figures"]
    assert figures["calibrated"]["iou"] > figures["default"]["iou"] + 5
    assert calibration["n_images"] == MIN_CONFIRMED_IMAGES and calibration["n_targets"] == 2 * MIN_CONFIRMED_IMAGES
    candidate = ModelVersion.objects.get(pk=job.result["candidates"][0])
    assert candidate.kind == GeneratorKind.COLDSTART and candidate.status == ModelStatus.CANDIDATE
    assert candidate.params["alpha"] == calibration["alpha"] and len(candidate.trained_on) == MIN_CONFIRMED_IMAGES
    assert generator_spec(project).alpha == 0.35  # it serves only once fresh frames say it is better
    assert calibration_status(project)["current"]["alpha"] == calibration["alpha"]
    assert calibration_status(project)["due"] is False  # not again until the next milestone (10 frames)


@pytest.mark.django_db
def test_a_manager_may_serve_the_calibration_at_once_and_regenerate():
    from labeling.services.calibration import project_calibrate

    project, manager = _confirmed_project(MIN_CONFIRMED_IMAGES)
    job = project_calibration_request(project=project, actor=manager, promote=True, regenerate=True)
    project_calibrate(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert generator_spec(project).alpha == job.result["calibration"]["alpha"] < 0.35
    assert Job.objects.filter(pk=job.result["prelabel_job"]).exists()


@pytest.mark.django_db
def test_the_same_settings_are_not_put_in_shadow_twice():
    from labeling.services.calibration import project_calibrate

    project, manager = _confirmed_project(MIN_CONFIRMED_IMAGES)
    for _ in range(2):
        job = project_calibration_request(project=project, actor=manager)
        project_calibrate(job_id=job.pk)
    job.refresh_from_db()
    assert job.result["candidates"] == [] and "already serve or wait" in job.message
    assert ModelVersion.objects.filter(project=project, kind=GeneratorKind.COLDSTART).count() == 1


@pytest.mark.django_db
def test_frames_without_targets_do_not_break_a_scheduled_calibration():
    from labeling.services.calibration import project_calibrate

    project = ProjectFactory()
    for seed in range(MIN_CONFIRMED_IMAGES):
        pixels, _, _ = _frame(seed)
        ImageFactory(project=project, pixels=pixels, status=ImageStatus.CONFIRMED, first_confirmed_at=timezone.now())
    with operator():  # as the loop asks
        job = project_calibration_request(project=project, actor=None)
    project_calibrate(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and "no confirmed frame with targets" in job.message
    assert not ModelVersion.objects.filter(project=project).exists()


def _cluster_frame(seed: int) -> tuple[np.ndarray, list[tuple[float, float]], list[np.ndarray]]:
    """A 48x64 frame with a row of three small touching targets 3 px apart, and masks that touch: the halo above
    10 % of the cluster's peak, split between the targets by nearest point (a dense cluster, drawn as one team
    draws it)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    centres = [(20 + 3 * k + seed % 4, 24.0) for k in range(3)]
    bump = sum(900 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.1**2)) for cx, cy in centres)
    frame = 1000 + rng.normal(0, 4, (48, 64)) + bump
    halo = bump > 0.1 * bump.max()
    nearest = np.argmin([(xx - cx) ** 2 + (yy - cy) ** 2 for cx, cy in centres], axis=0)
    masks = [halo & (nearest == k) for k in range(3)]
    return np.clip(frame, 0, 65535).astype(np.uint16), centres, masks


@pytest.mark.django_db
def test_a_team_whose_masks_touch_gets_a_cold_start_without_the_gap():
    """SIRST keeps a 1-px gap between touching targets; on dense clusters drawn touching that gap is a large
    share of every small mask. Calibration on such frames turns it off, as training does for EDGSP."""
    from labeling import ml_adapter
    from labeling.services.calibration import project_calibrate
    from labeling.services.serving import generator_label, version_spec

    project = ProjectFactory()
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    frames = [_cluster_frame(seed) for seed in range(MIN_CONFIRMED_IMAGES)]
    for pixels, points, masks in frames:
        image = ImageFactory(
            project=project, pixels=pixels, status=ImageStatus.CONFIRMED, first_confirmed_at=timezone.now()
        )
        for (x, y), raster in zip(points, masks, strict=True):
            MaskFactory(target=TargetFactory(image=image, x=x, y=y), raster=raster, state=MaskState.CONFIRMED)
    job = project_calibration_request(project=project, actor=manager)
    project_calibrate(job_id=job.pk)
    job.refresh_from_db()
    version = ModelVersion.objects.get(project=project, kind=GeneratorKind.COLDSTART)
    assert version.params["gaps"] is False and job.result["calibration"]["gaps"] is False
    spec = version_spec(version)
    assert spec.gaps is False and "targets may touch" in generator_label(version, spec)
    samples = [(p, np.array(pts), np.any(m, axis=0)) for p, pts, m in frames]
    with_gap = ml_adapter.GeneratorSpec(alpha=spec.alpha, use_grabcut=spec.use_grabcut, size_rule=spec.size_rule)
    assert ml_adapter.score(spec, samples)["iou"] > ml_adapter.score(with_gap, samples)["iou"] + 5

    apart, apart_manager = _confirmed_project(MIN_CONFIRMED_IMAGES)  # targets apart: SIRST's convention stays
    job = project_calibration_request(project=apart, actor=apart_manager)
    project_calibrate(job_id=job.pk)
    assert "gaps" not in ModelVersion.objects.get(project=apart, kind=GeneratorKind.COLDSTART).params
    assert not ModelVersion.objects.filter(project=apart, kind=GeneratorKind.EDGSP).exists()


@pytest.mark.django_db
def test_a_team_whose_masks_touch_also_gets_the_base_weights_without_the_gap_once():
    """The net splits a cluster right and loses the gap there: the base weights drawn as this team draws go in
    shadow beside the calibrated cold start, judged only on frames after those that showed the masks touch."""
    from labeling.services.calibration import project_calibrate
    from labeling.services.serving import base_weights, checkpoint_path, generator_label, version_spec

    project = ProjectFactory()
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    ids = []
    for pixels, points, masks in (_cluster_frame(seed) for seed in range(2)):
        image = ImageFactory(
            project=project, pixels=pixels, status=ImageStatus.CONFIRMED, first_confirmed_at=timezone.now()
        )
        ids.append(image.pk)
        for (x, y), raster in zip(points, masks, strict=True):
            MaskFactory(target=TargetFactory(image=image, x=x, y=y), raster=raster, state=MaskState.CONFIRMED)
    for _ in range(2):  # a second calibration finds it waiting and adds no other
        job = project_calibration_request(project=project, actor=manager)
        project_calibrate(job_id=job.pk)
    (net,) = ModelVersion.objects.filter(project=project, kind=GeneratorKind.EDGSP)
    assert net.status == ModelStatus.CANDIDATE and net.params == {"gaps": False}
    assert checkpoint_path(net) == str(base_weights()) and sorted(net.trained_on) == sorted(ids)
    spec = version_spec(net)
    assert spec.gaps is False and "targets may touch" in generator_label(net, spec)

    off = ProjectFactory(settings={"retrain": {"base_weights_candidate": False}})  # a team that opted out
    pixels, points, masks = _cluster_frame(0)
    image = ImageFactory(project=off, pixels=pixels, status=ImageStatus.CONFIRMED, first_confirmed_at=timezone.now())
    for (x, y), raster in zip(points, masks, strict=True):
        MaskFactory(target=TargetFactory(image=image, x=x, y=y), raster=raster, state=MaskState.CONFIRMED)
    off_manager = MembershipFactory(project=off, role=Role.MANAGER).user
    project_calibrate(job_id=project_calibration_request(project=off, actor=off_manager).pk)
    assert not ModelVersion.objects.filter(project=off, kind=GeneratorKind.EDGSP).exists()
