"""Fine-tuning in process on the real database: the schedule, the run, the candidate in shadow, promotion and
rollback by hand."""

from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from labeling import ml_adapter, storage
from labeling.choices import GeneratorKind, JobKind, JobStatus, ModelStatus, Role, ScoreKind
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, FrameScore, Image, Job, Mask, ModelVersion
from labeling.services.loop import loop_status, next_milestone, projects_loop_check
from labeling.services.serving import (
    base_weights,
    generator_label,
    generator_spec,
    model_version_promote,
    serving_model,
    version_spec,
)
from labeling.services.training import loop_prior, model_train, model_train_request
from tests.factories import JobFactory, MembershipFactory, ModelVersionFactory
from tests.labeling.frames import confirmed_image, loop_project, stream_frame

pytestmark = pytest.mark.django_db


def test_milestones_are_early_and_often_then_every_n():
    schedule, every = [10, 20, 40, 80, 160], 160
    assert [next_milestone(d, schedule, every) for d in (0, 9, 10, 39, 80, 159, 160, 161, 320, 500)] == [
        10, 10, 20, 40, 160, 160, 320, 320, 480, 640,
    ]  # fmt: skip
    assert next_milestone(0, [], 25) == 25


def test_the_schedule_calibrates_from_the_first_frame_fine_tunes_from_three_then_less_often():
    project, _ = loop_project()
    assert loop_status(project)["calibration"] == {"next_at": 1, "last_at": None, "active": False, "due": False}
    confirmed_image(project, 0)
    status = loop_status(project)
    assert status["calibration"]["due"] and not status["training"]["due"]
    JobFactory(project=project, kind=JobKind.CALIBRATE, status=JobStatus.SUCCEEDED, payload={"n_frames": 1})
    assert loop_status(project)["calibration"] == {"next_at": 2, "last_at": 1, "active": False, "due": False}
    confirmed_image(project, 1)
    status = loop_status(project)
    assert status["calibration"]["due"] and not status["training"]["due"]
    JobFactory(project=project, kind=JobKind.CALIBRATE, status=JobStatus.SUCCEEDED, payload={"n_frames": 2})
    assert not loop_status(project)["calibration"]["due"]
    confirmed_image(project, 2)
    status = loop_status(project)
    assert status["training"]["due"] and not status["calibration"]["due"]
    assert status["calibration"]["next_at"] == 5
    JobFactory(project=project, kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED, payload={"n_frames": 3})
    confirmed_image(project, 3)
    assert not loop_status(project)["training"]["due"]
    confirmed_image(project, 4)
    status = loop_status(project)
    assert status["calibration"]["due"] and not status["training"]["due"]
    confirmed_image(project, 5)
    assert loop_status(project)["training"]["due"]
    JobFactory(project=project, kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED, payload={"n_frames": 6})
    for seed in range(6, 9):
        confirmed_image(project, seed)
    assert not loop_status(project)["training"]["due"]
    confirmed_image(project, 9)
    assert loop_status(project)["training"]["due"]
    JobFactory(project=project, kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED, payload={"n_frames": 10})
    status = loop_status(project)
    assert not status["training"]["due"] and status["training"]["next_at"] == 20


def test_a_fine_tune_gets_seconds_per_frame_within_its_budget():
    from labeling.services.training import run_budget

    policy = {"time_budget_s": 300, "seconds_per_frame": 20}
    assert [run_budget(policy, n) for n in (1, 5, 10, 15, 400)] == [60, 100, 200, 300, 300]
    assert run_budget({"time_budget_s": 2, "seconds_per_frame": 20}, 50) == 2


def test_the_beat_check_starts_what_is_due_once_and_survives_empty_projects():
    due, _ = loop_project(n_confirmed=10)
    few, _ = loop_project(n_confirmed=2)  # calibration is due from the first frame, fine-tuning from the third
    loop_project(n_confirmed=0)
    disabled, _ = loop_project(n_confirmed=12, retrain={"enabled": False})
    projects_loop_check()
    kinds = sorted(Job.objects.filter(project=due).values_list("kind", flat=True))
    assert kinds.count(JobKind.TRAIN) == 1 and kinds.count(JobKind.CALIBRATE) == 1
    assert list(
        Job.objects.filter(project=few, kind__in=[JobKind.TRAIN, JobKind.CALIBRATE]).values_list("kind", flat=True)
    ) == [JobKind.CALIBRATE]
    assert not Job.objects.filter(project=disabled, kind__in=[JobKind.TRAIN, JobKind.CALIBRATE]).exists()
    projects_loop_check()  # the queued ones block a second
    assert Job.objects.filter(project=due, kind__in=[JobKind.TRAIN, JobKind.CALIBRATE]).count() == 2
    assert Job.objects.filter(project=few, kind__in=[JobKind.TRAIN, JobKind.CALIBRATE]).count() == 1


def test_manual_request_needs_a_manager_confirmed_images_and_no_running_training():
    project, manager = loop_project()
    reviewer = MembershipFactory(project=project, role=Role.REVIEWER).user
    with pytest.raises(ApplicationError, match="no confirmed images"):
        model_train_request(project=project, actor=manager)
    confirmed_image(project, 1)
    with pytest.raises(ApplicationError, match="manager role") as denied:
        model_train_request(project=project, actor=reviewer)
    assert denied.value.status_code == 403
    job = model_train_request(project=project, actor=manager)
    with pytest.raises(ConflictError, match=f"job {job.pk}"):
        model_train_request(project=project, actor=manager)


def _run_training(project, manager) -> tuple[Job, ModelVersion]:
    job = model_train_request(project=project, actor=manager)
    model_train(job_id=job.pk)
    job.refresh_from_db()
    return job, ModelVersion.objects.get(pk=job.payload["model_version_id"])


def test_training_uses_every_confirmed_frame_and_leaves_a_candidate_in_shadow():
    project, manager = loop_project(n_confirmed=6)
    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    ids = sorted(Image.objects.filter(project=project).values_list("pk", flat=True))
    assert version.trained_on == ids and version.n_train == 6 and version.n_val == 0 and version.seed == 0
    assert version.kind == GeneratorKind.EDGSP and version.snapshot_at is not None
    assert version.number == 1 and version.parent is None and version.job_id == job.pk
    path = Path(default_storage.path(version.checkpoint))
    assert path.is_file() and not list(path.parent.glob(".*partial*"))  # only the renamed, finished file
    losses = [p for p in version.curve if p["kind"] == "loss"]
    assert len(losses) >= 5 and all(p["loss"] > 0 for p in losses)
    # No frame was confirmed after its data were taken: it waits in shadow, the cold start still serves.
    assert version.status == ModelStatus.CANDIDATE and version.gate["decision"] == "wait"
    assert generator_spec(project).method == ml_adapter.COLDSTART
    assert AuditLog.objects.filter(action="loop.train", object_id=str(version.pk)).exists()


def test_frames_confirmed_while_it_trained_score_it_at_once(monkeypatch):
    project, manager = loop_project(n_confirmed=3)
    original = ml_adapter.train
    arrived = []

    def train_while_the_team_works(*args, **kwargs):  # two frames are confirmed during the run
        arrived.extend(stream_frame(project, manager, seed=100 + i) for i in range(2))
        return original(*args, **kwargs)

    monkeypatch.setattr(ml_adapter, "train", train_while_the_team_works)
    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    scored = FrameScore.objects.filter(kind=ScoreKind.REPLAY, generator_key=f"v{version.pk}")
    assert sorted(scored.values_list("image_id", flat=True)) == sorted(i.pk for i in arrived)
    assert job.result["scored"] == 2 and version.gate["n_fresh"] == 2  # judged against the cold start
    assert not scored.filter(image__in=version.trained_on).exists()


def test_the_fine_tune_warm_starts_from_the_serving_model_with_the_calibrated_prior(monkeypatch):
    project, manager = loop_project(n_confirmed=4)
    calibrated = ModelVersionFactory(
        project=project, number=1, kind=GeneratorKind.COLDSTART, checkpoint="", status=ModelStatus.PROMOTED,
        params={"alpha": 0.12, "use_grabcut": False, "size_rule": True}, promoted_at=timezone.now(),
    )  # fmt: skip
    assert loop_prior(project) == {"alpha": 0.12}
    seen = {}
    original = ml_adapter.train

    def spy(*args, **kwargs):
        seen.update(init=kwargs["init_checkpoint"], prior=kwargs["prior"], samples=args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(ml_adapter, "train", spy)
    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert seen["prior"] == {"alpha": 0.12} and version.params == {"prior": {"alpha": 0.12}}
    assert seen["init"] == str(base_weights())  # the serving model is a cold start: base weights
    assert all(len(s[3]) == 2 for s in seen["samples"])  # the humans' two clicks per frame prompt the net
    from ml.checkpoints import read_checkpoint

    written = read_checkpoint(default_storage.path(version.checkpoint))
    assert written["model_config"]["coldstart_params"]["alpha"] == 0.12  # the prior it will run with
    assert serving_model(project) == calibrated

    # Once an EDGSP version serves, the next run starts from it.
    model_version_promote(version=version, actor=manager)
    seen.clear()
    _run_training(project, manager)
    assert seen["init"] == default_storage.path(version.checkpoint)


def test_a_team_whose_confirmed_masks_touch_gets_a_version_that_lets_touching_targets_touch():
    """SIRST keeps a 1-px gap between touching targets; a team that lets them touch (its confirmed masks of one
    frame are 8-adjacent) gets versions drawn its way, which the serving spec, its label and its masks carry."""
    project, manager = loop_project(n_confirmed=2)
    image = Image.objects.filter(project=project).first()
    first, second = Mask.objects.filter(image=image).order_by("pk")[:2]
    beside = storage.mask_decode(first.rle, image.height, image.width)
    beside = np.roll(beside, int(np.ptp(np.nonzero(beside)[1])) + 1, axis=1)  # right next to the first mask
    mask_encoded = storage.mask_encode(beside)
    Mask.objects.filter(pk=second.pk).update(rle=mask_encoded[0], area=mask_encoded[1], bbox=mask_encoded[2])
    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert version.params.get("gaps") is False
    assert AuditLog.objects.get(action="loop.train", object_id=str(version.pk)).data["gaps"] is False
    spec = version_spec(version)
    assert spec.gaps is False and "targets may touch" in generator_label(version, spec)
    pixels = storage.read_pixels(image)
    out = ml_adapter.generate_masks(pixels, np.array([[10.0, 10.0]]), spec)
    assert out.params["gaps"] is False

    other, other_manager = loop_project(n_confirmed=2)  # blobs apart: SIRST's convention stays
    _, apart = _run_training(other, other_manager)
    assert "gaps" not in apart.params and version_spec(apart).gaps is True


def test_cancelled_training_stops_and_keeps_the_version_rejected(monkeypatch):
    project, manager = loop_project(n_confirmed=3, retrain={"time_budget_s": 60})
    job = model_train_request(project=project, actor=manager)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
    model_train(job_id=job.pk)  # a cancelled job is never started
    assert not ModelVersion.objects.filter(project=project).exists()

    job = JobFactory(project=project, kind=JobKind.TRAIN, status=JobStatus.QUEUED)
    original = ml_adapter.train

    def cancel_then_train(*args, **kwargs):  # the manager cancels once training is under way
        progress = kwargs["progress"]

        def watched(record):
            Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
            progress(record)

        return original(*args, **{**kwargs, "progress": watched})

    monkeypatch.setattr(ml_adapter, "train", cancel_then_train)
    model_train(job_id=job.pk)
    version = ModelVersion.objects.get(project=project)
    assert version.status == ModelStatus.REJECTED and version.gate["reason"] == "training cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_beat_runs_the_check_every_few_minutes_and_each_task_has_its_queue(settings):
    import labeling.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does
    from webapp.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["projects-loop-check"]
    assert entry["task"] in app.tasks and 60 <= entry["schedule"] <= 900
    route = app.amqp.router.route
    assert route({}, "labeling.tasks.model_train")["queue"].name == "train"
    assert route({}, "labeling.tasks.frame_score")["queue"].name == "loop"
    assert route({}, "labeling.tasks.project_calibrate")["queue"].name == "loop"
    assert route({}, "labeling.tasks.project_prelabel")["queue"].name == "batch"
    assert app.tasks["labeling.tasks.model_train"].acks_late and settings.CELERY_TASK_REJECT_ON_WORKER_LOST


def test_frames_the_base_weights_were_trained_on_never_count_for_edgsp(settings, tmp_path):
    """Every EDGSP version descends from the base weights: a frame they saw would be judged by memory."""
    from ml.checkpoints import update_checkpoint_meta

    project, manager = loop_project(retrain={"base_weights_candidate": True})
    first = stream_frame(project, manager, seed=0)  # the base-weights candidate joins at the first frame
    base_version = ModelVersion.objects.get(project=project, kind=GeneratorKind.EDGSP)
    assert (
        base_version.status == ModelStatus.CANDIDATE
        and not FrameScore.objects.filter(image=first, generator_key=f"v{base_version.pk}").exists()
    )  # made after that frame was confirmed
    seen_frame = stream_frame(project, manager, seed=1, score=False)  # its content hash is made "seen" below
    base = tmp_path / "base.pt"
    base.write_bytes(base_weights().read_bytes())
    update_checkpoint_meta(base, {"seen_sha256": [seen_frame.content_hash]})
    settings.EDGSP_WEIGHTS = str(base)  # the site's own base weights, which saw that frame
    from labeling.services.loop import frame_score

    frame_score(job_id=Job.objects.get(image=seen_frame, kind=JobKind.SCORE).pk)
    fresh = stream_frame(project, manager, seed=2)
    keys = lambda image: set(FrameScore.objects.filter(image=image).values_list("generator_key", flat=True))  # noqa: E731
    assert f"v{base_version.pk}" not in keys(seen_frame) and "default" in keys(seen_frame)
    assert f"v{base_version.pk}" in keys(fresh)
