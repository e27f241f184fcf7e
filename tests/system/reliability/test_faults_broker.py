"""The broker and the worker fail under a running app (gunicorn, a Celery worker, a private Redis, all real).

Redis killed while annotators add points: each point is saved (201) within a few seconds, and its generation job
is failed at once with a message saying generation is unavailable (a message that never reached the broker
would never run, so the job is not left `queued`). Once Redis is back, the next click is published on a new
connection, the worker reconnects by itself, and that job makes the masks of every target of the image, the
outage's points included. A hung Redis (SIGSTOP) costs a save a few seconds (the web's broker socket timeout),
not a hang. A worker SIGKILLed while it stores an image's masks leaves only whole masks, the
generation stays "not done", and the redelivered message finishes exactly the masks that were missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import requests

from labeling import ml_adapter, storage
from labeling.choices import JobStatus, Role
from labeling.models import Job, Mask, Target
from labeling.services.serving import generator_spec
from tests.factories import ImageFactory, TargetFactory
from tests.system.reliability.conftest import Stack, app_stack, team_session, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The replacement worker takes back a killed worker's unacked message after ~5 s (production: ~70 min, longer than
# any task's hard limit). A live task that ran longer would be delivered again once it is acked (one process, one
# message at a time), find its job finished and stop: harmless.
QUICK_REDELIVERY = {
    "CELERY_VISIBILITY_TIMEOUT": "5",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory) -> Iterator[Stack]:
    """gunicorn and one worker on a private Redis (db 0 of a redis-server on a free port), sharing one media dir."""
    with app_stack(tmp_path_factory.mktemp("broker-faults"), "interactive,batch", QUICK_REDELIVERY) as running:
        yield running


@pytest.fixture
def team(stack, settings):
    """A project and an annotator's token session against the gunicorn of the stack."""
    return team_session(stack, settings, Role.ANNOTATOR)


def blob_frame(points: list[tuple[float, float]], size: int) -> np.ndarray:
    """A 16-bit frame with one Gaussian target at each (x, y) point on a noisy background."""
    rng = np.random.default_rng(len(points))
    yy, xx = np.mgrid[0:size, 0:size]
    frame = 8000 + rng.normal(0, 40, (size, size))
    for x, y in points:
        frame += 20000 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.6**2))
    return np.clip(frame, 0, 65535).astype(np.uint16)


def _generation(stack: Stack, http: requests.Session, image_id: int, wait: float) -> dict:
    response = http.get(stack.web.url(f"/api/v1/images/{image_id}/generation/?wait={wait}"), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_points_are_saved_while_redis_is_down_and_generation_resumes_when_it_is_back(stack, team):
    project, http = team
    points = [(16.0, 16.0), (48.0, 16.0), (80.0, 16.0), (16.0, 64.0), (64.0, 72.0)]
    image = ImageFactory(project=project, pixels=blob_frame(points, 96))
    add = stack.web.url(f"/api/v1/images/{image.pk}/targets/")

    before = http.post(add + "?wait=5", json={"x": points[0][0], "y": points[0][1]}, timeout=30)
    assert before.status_code == 201, before.text
    assert before.json()["generation"]["job"]["status"] == JobStatus.SUCCEEDED  # the stack works end to end

    stack.redis.kill()
    saved_during = []
    for x, y in points[1:4]:
        started = time.monotonic()
        response = http.post(add + "?wait=1", json={"x": x, "y": y}, timeout=30)
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.text  # the point is saved: not a 500
        assert elapsed < 5, f"a save took {elapsed:.1f} s with the broker down"  # the publish fails fast
        body = response.json()
        job = body["generation"]["job"]
        assert job["status"] == JobStatus.FAILED and "Mask generation is unavailable" in job["message"], job
        saved_during.append(body)
    stored = {t.pk: (t.x, t.y) for t in Target.objects.filter(image=image)}
    assert all(stored[body["id"]] == (body["x"], body["y"]) for body in saved_during)  # in the database
    polled = _generation(stack, http, image.pk, 0)  # and the image's generation status says why no masks came
    assert polled["job"]["status"] == JobStatus.FAILED and "task queue cannot be reached" in polled["job"]["message"]

    stack.redis.start()  # same port, empty: what the dead Redis held is gone, as after a crash
    after = http.post(add + "?wait=5", json={"x": points[4][0], "y": points[4][1]}, timeout=30)
    assert after.status_code == 201, after.text
    resumed_job = after.json()["generation"]["job"]["id"]

    # The worker reconnects on its own (its retries back off 2, 4, 6 ... s); the new click's job then runs.
    final = wait_for(lambda: (g := _generation(stack, http, image.pk, 2))["done"] and g, 60, "generation to resume")
    assert final["job"]["id"] == resumed_job and final["job"]["status"] == JobStatus.SUCCEEDED, final["job"]
    masks = {m["target_id"]: m for m in final["masks"]}
    assert set(masks) == set(stored) | {after.json()["id"]}  # every target has its mask, the outage's included
    for target in Target.objects.filter(image=image):
        raster = storage.mask_decode(masks[target.pk]["rle"]["counts"], image.height, image.width)
        assert raster[round(target.y), round(target.x)], f"the mask of target {target.pk} misses its point"
    # The outage's jobs stay failed (their messages never existed); the later job did their work.
    outage_jobs = Job.objects.filter(pk__in=[b["generation"]["job"]["id"] for b in saved_during])
    assert set(outage_jobs.values_list("status", flat=True)) == {JobStatus.FAILED}


def test_a_hung_redis_costs_a_save_seconds_not_a_hang_and_generation_resumes(stack, team):
    project, http = team
    points = [(16.0, 16.0), (48.0, 40.0), (24.0, 56.0)]
    image = ImageFactory(project=project, pixels=blob_frame(points, 64))
    add = stack.web.url(f"/api/v1/images/{image.pk}/targets/")
    assert http.post(add + "?wait=5", json={"x": 16.0, "y": 16.0}, timeout=30).status_code == 201

    stack.redis.freeze()
    try:
        started = time.monotonic()
        response = http.post(add + "?wait=1", json={"x": 48.0, "y": 40.0}, timeout=20)
        elapsed = time.monotonic() - started
    finally:
        stack.redis.freeze(False)
    assert response.status_code == 201, response.text
    # Bounded by the web's 2 s broker socket timeout: a publish, a reconnect and one retry time out (~6 s in all).
    assert elapsed < 10, f"the save took {elapsed:.1f} s with the broker hung"
    job = response.json()["generation"]["job"]
    assert job["status"] == JobStatus.FAILED and "Mask generation is unavailable" in job["message"], job

    after = http.post(add + "?wait=5", json={"x": 24.0, "y": 56.0}, timeout=30)
    assert after.status_code == 201, after.text
    final = wait_for(lambda: (g := _generation(stack, http, image.pk, 2))["done"] and g, 60, "generation to resume")
    assert final["job"]["status"] == JobStatus.SUCCEEDED, final["job"]
    assert {m["target_id"] for m in final["masks"]} == set(
        Target.objects.filter(image=image).values_list("pk", flat=True)
    )


def test_worker_killed_mid_generation_serves_no_partial_result_and_the_rerun_completes_it(stack, team):
    project, http = team
    points = [(20.0 + 40 * (i % 10), 20.0 + 40 * (i // 10)) for i in range(10 * 10)]
    image = ImageFactory(project=project, pixels=blob_frame(points, 400))
    for x, y in points:
        TargetFactory(image=image, x=x, y=y)
    total = len(points)

    response = http.post(stack.web.url(f"/api/v1/images/{image.pk}/generation/?wait=0"), timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]["id"]
    wait_for(lambda: Mask.objects.filter(image=image).exists(), 60, "the worker to store masks", every=0.002)
    stack.worker.kill()  # SIGKILL to the whole worker, in the middle of storing the image's masks
    at_kill = Mask.objects.filter(image=image).count()
    assert 0 < at_kill < total, f"the kill came after {at_kill} of {total} masks: not mid-job"

    # Nothing runs now. The generation is not reported done, and every mask that is served is whole.
    polled = _generation(stack, http, image.pk, 0)
    assert polled["done"] is False and polled["masks"] is None and polled["job"]["id"] == job_id
    served = http.get(stack.web.url(f"/api/v1/images/{image.pk}/masks/"), timeout=30).json()
    assert len(served) == at_kill
    for mask in served:
        raster = storage.mask_decode(mask["rle"]["counts"], image.height, image.width)
        assert int(raster.sum()) == mask["area"] > 0

    stack.worker.start()  # a new worker takes the unacked message back after the visibility timeout
    final = wait_for(lambda: (g := _generation(stack, http, image.pk, 3))["done"] and g, 90, "the redelivered job")
    assert final["job"]["id"] == job_id and final["job"]["status"] == JobStatus.SUCCEEDED, final["job"]
    result = Job.objects.get(pk=job_id).result
    assert result["stored"] == total - at_kill  # the rerun wrote exactly the masks the kill left missing
    targets = list(Target.objects.filter(image=image).order_by("pk"))
    expected = ml_adapter.generate_masks(
        storage.read_pixels(image), np.array([[t.x, t.y] for t in targets]), generator_spec(project)
    ).masks
    stored = {m.target_id: m.rle for m in Mask.objects.filter(image=image)}
    assert len(stored) == total
    assert all(stored[t.pk] == storage.mask_encode(expected[i])[0] for i, t in enumerate(targets))
