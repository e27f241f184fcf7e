"""Orphaned batch jobs under a running app (gunicorn, a Celery worker, celery beat and a private Redis, all real).

The worker keeps production's visibility timeout for `batch` (hours: longer than an export may run), so Redis alone
would not give a killed worker's message back within these tests. Beat's sweep (every second here, a job counts
as stale after 3 s without progress) finds a job that no live worker runs and whose messages are not waiting: a
pre-label job whose worker was SIGKILLed, or an export whose worker and Redis both died (Redis restarted without
persistence), is re-sent and finishes, with the right mask count and no temp folder left in MEDIA_ROOT; a job
re-sent too often is failed with a message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from celery import Celery
from django.utils import timezone

from labeling.choices import JobKind, JobStatus, Role
from labeling.models import Job, Mask
from labeling.services.audit import audit_log
from labeling.services.job_sweep import MAX_RESENDS, job_resends
from tests.celery_worker import ROOT
from tests.factories import ImageFactory
from tests.labeling.frames import crowded_image
from tests.system.reliability.conftest import Stack, app_stack, team_session, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SWEEP = {"LABELING_JOB_SWEEP_S": "1", "LABELING_JOB_STALE_S": "3", "LABELING_RETRAIN_CHECK_S": "3600"}


class BeatProcess:
    """`celery beat` on the private broker: it sends the sweep on the settings' schedule."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.test", **env}
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.workdir / "beat.log", "w")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "celery", "-A", "webapp", "beat", "-l", "info"]
        cmd += ["-s", str(self.workdir / "beat-schedule"), "--pidfile", ""]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("job-faults")
    with app_stack(tmp, "batch,loop", SWEEP) as running:
        beat = BeatProcess({**running.env, **SWEEP}, tmp)
        beat.start()
        try:
            yield running
        finally:
            beat.stop()


@pytest.fixture
def team(stack, settings):
    return team_session(stack, settings, Role.MANAGER)


def _finished(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) else None


def _leftovers(media: Path) -> list[Path]:
    return [*media.glob("exports/*/.export-*"), *media.glob("exports/*/*.part")]


def test_a_prelabel_job_whose_worker_was_killed_is_resent_and_counts_its_masks(stack, team):
    project, http = team
    images = [crowded_image(project, seed) for seed in range(20)]
    response = http.post(stack.web.url(f"/api/v1/projects/{project.pk}/prelabel/"), json={}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def stored_but_not_counted() -> bool:  # masks first, then progress: `done` only grows
        masks = Mask.objects.filter(image__in=images).count()
        return Job.objects.get(pk=job_id).done >= 1 and masks > 24 * Job.objects.get(pk=job_id).done

    wait_for(stored_but_not_counted, 120, "an image's masks stored before its progress", every=0.005)
    stack.worker.kill()  # SIGKILL: the chunk's message stays unacked, for hours with batch's visibility timeout
    at_kill = Job.objects.get(pk=job_id)
    assert at_kill.status == JobStatus.RUNNING and at_kill.done < at_kill.total
    assert stack.redis.client().hlen("unacked:batch-loop") == 1  # the worker group's own unacked set holds it
    stack.worker.start()

    job = wait_for(lambda: _finished(job_id), 120, "the sweep to re-send the lost chunk and the job to finish")
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (job.done, job.total, job.errors) == (20, 20, [])
    assert job_resends(job) == 1 and 2 in job.result["chunk_attempts"].values()
    assert Mask.objects.filter(image__in=images).count() == 480
    assert job.message == "20 of 20 images pre-labeled (480 masks), 0 errors"  # the redone image's masks counted


def test_an_export_lost_with_its_worker_and_redis_is_resent_and_leaves_no_temp_folder(stack, team):
    project, http = team
    for seed in range(400):
        ImageFactory(project=project, pixels=np.full((64, 64), 1000 + seed, np.uint16), original_name=f"e{seed}.png")
    response = http.post(stack.web.url(f"/api/v1/projects/{project.pk}/exports/"), json={}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    wait_for(lambda: Job.objects.get(pk=job_id).done >= 1 and _leftovers(stack.media), 120, "the export to run")
    stack.worker.kill()
    stack.redis.kill()  # and the broker, without persistence: the export's message is gone for good
    assert _leftovers(stack.media), "the killed export left its temp files"
    stack.redis.start()
    stack.worker.start()

    job = wait_for(lambda: _finished(job_id), 180, "the sweep to re-send the lost export and the job to finish")
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job_resends(job) == 1 and job.result["counts"]["images"] == 400
    assert (stack.media / job.result["path"]).is_file()
    assert _leftovers(stack.media) == []


def test_a_job_resent_too_often_is_failed_with_a_message_and_its_files_removed(stack, team):
    project, _ = team
    job = Job.objects.create(project=project, kind=JobKind.EXPORT, status=JobStatus.RUNNING)
    for _ in range(MAX_RESENDS):  # re-sent twice already, and lost again
        audit_log(actor=None, project=project, action="job.resend", obj=job)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    leftover = stack.media / "exports" / str(project.pk) / f".export-{job.pk}-x1y2"
    leftover.mkdir(parents=True)
    (leftover / "coco-images").write_text("partial")

    job = wait_for(lambda: _finished(job.pk), 60, "the sweep to fail the job")
    assert job.status == JobStatus.FAILED
    assert job.message.startswith(f"The worker running this job was lost {MAX_RESENDS + 1} times"), job.message
    wait_for(lambda: not leftover.exists(), 10, "the export's temp folder to be removed")


def test_a_stale_job_whose_message_waits_for_a_worker_is_left_alone(stack, team):
    """No `train` worker runs here: the job's message waits in its queue, which is not lost work. A job beside it
    with no message at all shows that the sweep ran meanwhile."""
    project, _ = team
    waiting = Job.objects.create(project=project, kind=JobKind.TRAIN, status=JobStatus.QUEUED)
    # As the web process would have sent it: an explicit connection (the environment's CELERY_BROKER_URL would win
    # over broker=), and not the current app (it would become this process's `current_app`, and every later test's
    # `current_app.send_task` would go to its default broker and leave jobs queued).
    sender = Celery("sender", set_as_current=False)
    with sender.connection_for_write(stack.redis.url) as connection:
        sender.send_task("labeling.tasks.model_train", args=[waiting.pk], queue="train", connection=connection)
    sender.close()
    assert stack.redis.client().llen("train") == 1
    lost = Job.objects.create(project=project, kind=JobKind.EXPORT, status=JobStatus.RUNNING)
    for _ in range(MAX_RESENDS):
        audit_log(actor=None, project=project, action="job.resend", obj=lost)
    stale = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk__in=[waiting.pk, lost.pk]).update(updated_at=stale)

    wait_for(lambda: _finished(lost.pk), 60, "the sweep to fail the lost job")
    time.sleep(2)  # and a sweep or two more
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.QUEUED and job_resends(waiting) == 0
    assert stack.redis.client().llen("train") == 1  # its one message still waits: nothing was re-sent
