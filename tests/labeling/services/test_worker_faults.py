"""The loop on a real Celery worker and real Redis: pre-labeling and training jobs, and a worker SIGKILLed in
the middle of either (the message is redelivered to a new worker, which finishes the job: our documented choice)."""

import os
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from labeling import ml_adapter
from labeling.choices import GeneratorKind, JobStatus, ModelStatus
from labeling.models import Job, Mask, ModelVersion, Target
from labeling.services.generation import image_generate_request
from labeling.services.jobs import job_wait
from labeling.services.loop_data import loop_samples
from labeling.services.prelabel import project_prelabel_request
from labeling.services.serving import generator_spec, model_version_promote, model_version_retire, serving_model
from labeling.services.training import model_train_request
from tests.factories import ModelVersionFactory
from tests.labeling.frames import crowded_image, loop_project

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# A new worker takes back a dead worker's unacked message after ~10 s instead of ~70 min. It must stay longer than
# any task of these tests, or a live task would be delivered twice (production: longer than the hard limits).
QUICK_REDELIVERY = {
    "CELERY_VISIBILITY_TIMEOUT": "10",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}


@contextmanager
def killed_and_replaced(worker):
    """SIGKILL the worker (as a crashed machine would), then start a new one; afterwards restore the default."""
    worker.kill()
    os.environ.update(QUICK_REDELIVERY)
    try:
        worker.start()
        yield
    finally:
        worker.stop()
        for key in QUICK_REDELIVERY:
            os.environ.pop(key, None)
        worker.start()


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_prelabel_job_on_the_worker_reports_progress_and_stores_predictions(worker):
    project, manager = loop_project()
    images = [crowded_image(project, seed) for seed in range(3)]
    job = job_wait(project_prelabel_request(project=project, actor=manager), 60)
    assert job.status == JobStatus.SUCCEEDED, job.message
    job.refresh_from_db()
    assert (job.done, job.total, job.errors) == (3, 3, [])
    assert Mask.objects.filter(image__in=images, state="predicted").count() == 72


def test_worker_killed_mid_batch_the_new_worker_finishes_the_job(worker):
    project, manager = loop_project()
    images = [crowded_image(project, seed) for seed in range(20)]
    job = project_prelabel_request(project=project, actor=manager)
    _wait_until(lambda: Job.objects.get(pk=job.pk).done >= 2, 60, "the batch to start")
    with killed_and_replaced(worker):
        at_kill = Job.objects.get(pk=job.pk)  # nothing runs between the kill and the new worker's start
        assert at_kill.status == JobStatus.RUNNING and at_kill.done < at_kill.total, "the kill came too late"
        job = job_wait(job, 120)
        assert job.status == JobStatus.SUCCEEDED, job.message
    job.refresh_from_db()
    assert (job.done, job.total, job.errors) == (20, 20, [])
    assert 2 in job.result["chunk_attempts"].values()  # the killed chunk was redelivered and resumed
    targets = Target.objects.filter(image__in=images).count()
    assert Mask.objects.filter(image__in=images).count() == targets == 480  # each mask once, none missing


def test_a_worker_killed_mid_training_leaves_the_serving_generator_untouched_and_the_rerun_finishes(worker):
    project, manager = loop_project(n_confirmed=5, retrain={"time_budget_s": 8})
    champion = ModelVersionFactory(
        project=project, number=1, kind=GeneratorKind.COLDSTART, checkpoint="", status=ModelStatus.CANDIDATE,
        params={"alpha": 0.2, "use_grabcut": False, "size_rule": True},
    )  # fmt: skip
    model_version_promote(version=champion, actor=manager)
    job = model_train_request(project=project, actor=manager)

    def training_under_way() -> bool:
        current = Job.objects.get(pk=job.pk)
        return current.status == JobStatus.RUNNING and current.done >= 2

    _wait_until(training_under_way, 90, "training to run for 2 s")
    with killed_and_replaced(worker):
        version = ModelVersion.objects.get(project=project, kind=GeneratorKind.EDGSP)
        # The dead run left no servable version: still training, no checkpoint recorded, no final file; the
        # serving generator is the one that served before.
        assert version.status == ModelStatus.TRAINING and version.checkpoint == ""
        assert not list(Path(default_storage.path(f"models/{project.pk}")).glob("v*.pt"))
        assert serving_model(project) == champion and generator_spec(project).alpha == 0.2
        job = job_wait(job, 150)
        assert job.status == JobStatus.SUCCEEDED, job.message
    job.refresh_from_db()
    assert job.attempts == 2
    version = ModelVersion.objects.get(project=project, kind=GeneratorKind.EDGSP)  # the rerun reused the row
    assert version.pk == job.payload["model_version_id"] and version.status == ModelStatus.CANDIDATE
    assert serving_model(project) == champion  # a finished candidate waits in shadow: it does not serve yet
    checkpoint = Path(default_storage.path(version.checkpoint))
    assert checkpoint.is_file() and not list(checkpoint.parent.glob(".*partial*"))
    sample = loop_samples([project.images.first().pk])[0]
    spec = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=str(checkpoint))
    out = ml_adapter.generate_masks(sample.pixels, sample.points, spec)  # a complete, loadable checkpoint
    assert len(out.masks) == len(sample.points)

    # The running worker serves a version as soon as it is promoted, and the cold start again once it retires.
    image = project.images.first()
    model_version_promote(version=version, actor=manager)
    served = job_wait(image_generate_request(image=image, actor=manager), 60)
    assert (served.status, served.result["generator"], served.result["model_version"]) == (
        JobStatus.SUCCEEDED,
        "edgsp",
        version.pk,
    )
    model_version_retire(version=version, actor=manager)
    served = job_wait(image_generate_request(image=image, actor=manager), 60)
    assert (served.result["generator"], served.result["model_version"]) == ("coldstart", None)


def test_a_confirmation_is_scored_by_the_loop_worker(worker):
    """The confirmation enqueues its scoring on the `loop` queue after commit; a real worker records the frame."""
    from labeling.choices import JobKind, ScoreKind
    from labeling.models import FrameScore
    from labeling.services.images import image_confirm

    project, manager = loop_project()
    image = crowded_image(project, seed=7, n=3)
    job_wait(image_generate_request(image=image, actor=manager), 60)
    image.refresh_from_db()
    image_confirm(image=image, actor=manager)
    score = job_wait(Job.objects.get(image=image, kind=JobKind.SCORE), 60)
    assert score.status == JobStatus.SUCCEEDED, score.message
    shown = FrameScore.objects.get(image=image, kind=ScoreKind.SHOWN)
    assert shown.inter == shown.union > 0 and shown.n_targets == 3  # confirmed as generated: what was shown
    assert score.result["shown"]["iou"] == 100.0 and "default" in score.result["replays"]
