"""Retraining in process on the real database: when a project is due, the run, the gate, promotion and rollback."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from labeling import ml_adapter
from labeling.choices import JobKind, JobStatus, ModelStatus, Role
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import Image, Job, ModelVersion
from labeling.services.generation import generator_spec
from labeling.services.training import (
    model_train,
    model_train_request,
    model_version_promote,
    model_version_retire,
    project_retrain_status,
    projects_retrain_check,
)
from labeling.services.validation import confirmed_ids, gate_score, images_assign_loop_split, loop_samples
from tests.factories import JobFactory, MembershipFactory, ModelVersionFactory
from tests.labeling.loop.conftest import confirmed_image, loop_project

pytestmark = pytest.mark.django_db


def test_due_after_enough_new_confirmed_images_and_the_interval():
    project, _ = loop_project(n_confirmed=3, retrain={"min_new_confirmed": 4, "min_interval_minutes": 30})
    assert project_retrain_status(project) == {
        "due": False,
        "new_confirmed": 3,
        "interval_passed": True,
        "training_active": False,
    }
    confirmed_image(project, 50)
    assert project_retrain_status(project)["due"]
    job = model_train_request(project=project, actor=None, reason="scheduled")
    assert not project_retrain_status(project)["due"]  # one training at a time
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    ModelVersionFactory(project=project, n_train=3, n_val=1, status=ModelStatus.REJECTED)
    for seed in range(60, 64):
        confirmed_image(project, seed)
    status = project_retrain_status(project)
    assert status["new_confirmed"] == 4 and not status["interval_passed"] and not status["due"]
    assert project_retrain_status(project, now=timezone.now() + timedelta(minutes=31))["due"]


def test_default_policy_is_twenty_new_confirmed_images():
    project, _ = loop_project(n_confirmed=0)
    project.settings = {}
    project.save()
    for seed in range(19):
        confirmed_image(project, seed)
    assert not project_retrain_status(project)["due"]
    confirmed_image(project, 19)
    assert project_retrain_status(project)["due"]


def test_beat_check_starts_training_only_for_due_projects():
    due, _ = loop_project(n_confirmed=2, retrain={"min_new_confirmed": 2})
    not_due, _ = loop_project(n_confirmed=1, retrain={"min_new_confirmed": 2})
    disabled, _ = loop_project(n_confirmed=3, retrain={"min_new_confirmed": 2, "enabled": False})
    jobs = projects_retrain_check()
    assert [j.project_id for j in jobs] == [due.pk]
    assert jobs[0].kind == JobKind.TRAIN and jobs[0].payload["reason"] == "scheduled"
    assert projects_retrain_check() == []  # the queued one blocks a second
    assert not Job.objects.filter(project__in=[not_due, disabled]).exists()


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


def test_training_writes_a_finished_checkpoint_a_curve_and_the_gate_figures():
    project, manager = loop_project(n_confirmed=6)
    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.total == 2 and job.progress == 100
    ids = confirmed_ids(project)
    assert (version.n_train, version.n_val) == (len(ids["train"]), len(ids["val"]))
    assert version.n_train + version.n_val == 6 and version.seed == 0 and len(version.code_revision) >= 7
    assert version.number == 1 and version.parent is None and version.job_id == job.pk
    path = Path(default_storage.path(version.checkpoint))
    assert path.is_file() and not list(path.parent.glob(".*partial*"))  # only the renamed, finished file
    losses = [p for p in version.curve if p["kind"] == "loss"]
    assert len(losses) >= 5 and all(p["loss"] > 0 for p in losses)
    assert [p["step"] for p in losses] == sorted(p["step"] for p in losses)
    # Fewer than 10 validation images: the gate says so and keeps the version as an undecided candidate.
    assert version.status == ModelStatus.CANDIDATE and not version.gate["promoted"]
    assert "too small" in version.gate["reason"] or "no validation" in version.gate["reason"]
    assert generator_spec(project).method == ml_adapter.COLDSTART


def test_gate_scores_both_models_on_the_whole_validation_set_and_acts_on_the_figures():
    project, manager = loop_project(n_confirmed=0, retrain={"pd_tolerance": 0.0, "fat_tolerance": 0.0})
    seed = 0
    while True:  # enough confirmed images for 10 in the frozen validation split
        confirmed_image(project, seed)
        seed += 1
        images_assign_loop_split(project=project)
        if len(confirmed_ids(project)["val"]) >= 10:
            break
    coldstart = gate_score(generator_spec(project), loop_samples(confirmed_ids(project)["val"]))
    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    gate = version.gate
    assert gate["n_val"] == version.n_val >= 10
    assert gate["serving_generator"] == "coldstart" and gate["serving_version"] is None
    assert gate["serving"] == pytest.approx(coldstart)  # the cold start in service, scored on the same images
    candidate_spec = ml_adapter.GeneratorSpec(
        method=ml_adapter.EDGSP, checkpoint=default_storage.path(version.checkpoint), model_version_id=version.pk
    )
    assert gate["candidate"] == pytest.approx(gate_score(candidate_spec, loop_samples(confirmed_ids(project)["val"])))
    gain = gate["iou_gain"]
    assert gain["gain"] == pytest.approx(gate["candidate"]["iou"] - gate["serving"]["iou"])
    assert gain["n_images"] == gate["n_val"] and gate["confidence"] == 0.95 and gain["lower"] <= gain["gain"]
    wins = (
        gain["lower"] > 0
        and gate["candidate"]["pd"] >= gate["serving"]["pd"]
        and gate["candidate"]["fat"] <= gate["serving"]["fat"]
    )
    assert gate["promoted"] is wins
    assert version.status == (ModelStatus.PROMOTED if wins else ModelStatus.REJECTED)
    assert (generator_spec(project).model_version_id == version.pk) is wins


def _finished_version(project, number: int, status: str) -> ModelVersion:
    relative = f"models/{project.pk}/v{number}.pt"
    Path(default_storage.path(relative)).parent.mkdir(parents=True, exist_ok=True)
    Path(default_storage.path(relative)).write_bytes(b"weights")
    return ModelVersionFactory(project=project, number=number, checkpoint=relative, status=status)


def test_rollback_to_any_earlier_version_in_one_action_and_back_to_cold_start():
    project, manager = loop_project()
    v1 = _finished_version(project, 1, ModelStatus.RETIRED)
    v2 = _finished_version(project, 2, ModelStatus.REJECTED)
    v3 = _finished_version(project, 3, ModelStatus.RETIRED)
    model_version_promote(version=v3, actor=manager)
    assert generator_spec(project).model_version_id == v3.pk
    model_version_promote(version=v1, actor=manager)
    statuses = dict(ModelVersion.objects.filter(project=project).values_list("pk", "status"))
    assert statuses == {v1.pk: ModelStatus.PROMOTED, v2.pk: ModelStatus.REJECTED, v3.pk: ModelStatus.RETIRED}
    assert generator_spec(project).model_version_id == v1.pk
    model_version_retire(version=v1, actor=manager)
    assert generator_spec(project).method == ml_adapter.COLDSTART


def test_promote_refuses_unfinished_or_missing_checkpoints_and_non_managers():
    project, manager = loop_project()
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    training = ModelVersionFactory(project=project, number=1, checkpoint="", status=ModelStatus.TRAINING)
    missing = ModelVersionFactory(project=project, number=2, checkpoint="models/gone.pt", status=ModelStatus.RETIRED)
    with pytest.raises(ApplicationError, match="not finished training"):
        model_version_promote(version=training, actor=manager)
    with pytest.raises(ApplicationError, match="checkpoint .* is missing"):
        model_version_promote(version=missing, actor=manager)
    with pytest.raises(ApplicationError, match="manager role"):
        model_version_promote(version=_finished_version(project, 3, ModelStatus.RETIRED), actor=annotator)
    assert not ModelVersion.objects.filter(project=project, status=ModelStatus.PROMOTED).exists()


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


def test_beat_runs_the_check_every_few_minutes_and_training_goes_to_the_train_queue(settings):
    import labeling.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does
    from webapp.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["projects-retrain-check"]
    assert entry["task"] in app.tasks and 60 <= entry["schedule"] <= 900
    assert app.amqp.router.route({}, "labeling.tasks.model_train")["queue"].name == "train"
    assert app.amqp.router.route({}, "labeling.tasks.project_prelabel")["queue"].name == "batch"
    assert app.tasks["labeling.tasks.model_train"].acks_late and settings.CELERY_TASK_REJECT_ON_WORKER_LOST


def test_gate_leaves_out_validation_frames_the_shipped_weights_were_trained_on(monkeypatch, tmp_path):
    """A candidate fine-tuned from the shipped weights has seen their training frames: scoring it there leaks."""
    from ml.checkpoints import update_checkpoint_meta

    project, manager = loop_project(n_confirmed=0, retrain={"pd_tolerance": 0.0, "fat_tolerance": 0.0})
    seed = 0
    while len(confirmed_ids(project)["val"]) < 12:
        confirmed_image(project, seed)
        seed += 1
        images_assign_loop_split(project=project)
    val_ids = confirmed_ids(project)["val"]
    seen_images = Image.objects.filter(pk__in=val_ids[:4])
    base = tmp_path / "base.pt"
    base.write_bytes(ml_adapter.shipped_weights().read_bytes())
    update_checkpoint_meta(base, {"seen_sha256": sorted(i.content_hash for i in seen_images)})
    monkeypatch.setattr(ml_adapter, "shipped_weights", lambda: base)

    job, version = _run_training(project, manager)
    assert job.status == JobStatus.SUCCEEDED, job.message
    gate = version.gate
    assert gate["n_val_seen_by_base"] == 4 and gate["n_val"] == len(val_ids) - 4
    assert "4 validation images left out" in gate["reason"]
    unseen = loop_samples(val_ids[4:])
    assert gate["serving"] == pytest.approx(gate_score(generator_spec(project), unseen))
    if len(val_ids) - 4 < 10:
        assert not gate["promoted"] and "too small" in gate["reason"]
