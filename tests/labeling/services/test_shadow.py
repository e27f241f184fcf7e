"""Champion and challengers: candidates are judged on frames confirmed after they were made, promoted on a sure
win, rejected when they do not win, and a promotion the record contradicts is rolled back."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from labeling.choices import GeneratorKind, JobKind, ModelStatus, ScoreKind
from labeling.models import AuditLog, FrameScore, Job, ModelVersion
from labeling.services.calibration import project_calibrate
from labeling.services.loop import frame_score
from labeling.services.serving import serving_model
from labeling.services.shadow import loop_decide
from tests.labeling.frames import loop_project, stream_frame

pytestmark = pytest.mark.django_db

NO_TRAINING = {"train_at": [100000], "calibrate_at": [5], "calibrate_every": 100000}


def _calibrate_now(project) -> ModelVersion:
    job = Job.objects.get(project=project, kind=JobKind.CALIBRATE)
    project_calibrate(job_id=job.pk)
    return ModelVersion.objects.get(project=project, kind=GeneratorKind.COLDSTART)


def test_a_better_candidate_waits_for_fresh_frames_then_serves():
    project, manager = loop_project(retrain=NO_TRAINING)
    made_from = [stream_frame(project, manager, seed=s, radius2=13) for s in range(5)]  # halo-style annotators
    candidate = _calibrate_now(project)  # the schedule asked for it at the 5th frame
    assert candidate.status == ModelStatus.CANDIDATE and candidate.params["alpha"] < 0.35

    for seed in range(5, 9):
        stream_frame(project, manager, seed=seed, radius2=13)
        candidate.refresh_from_db()
        assert candidate.status == ModelStatus.CANDIDATE, "promoted before five fresh frames"
    assert "needs p ≤ 0.05" in candidate.gate["reason"] and candidate.gate["n_fresh"] == 4

    stream_frame(project, manager, seed=9, radius2=13)

    candidate.refresh_from_db()
    assert serving_model(project) == candidate and candidate.status == ModelStatus.PROMOTED
    gate = candidate.gate
    assert gate["promoted_at_frame"] == 10 and gate["replaced"] == "default" and gate["n_fresh"] == 5
    assert gate["iou_gain"]["gain"] > 10 and gate["iou_gain"]["p_value"] <= 0.05
    # The frames it was calibrated on never counted for it.
    assert not FrameScore.objects.filter(image__in=made_from, generator_key=f"v{candidate.pk}").exists()
    assert AuditLog.objects.filter(action="loop.promote", object_id=str(candidate.pk)).count() == 1
    # The next frame is shown with the calibrated cold start, and its record says so.
    frame = stream_frame(project, manager, seed=10, radius2=13)
    shown = FrameScore.objects.get(image=frame, kind=ScoreKind.SHOWN)
    assert shown.generator_key == f"v{candidate.pk}"


def _candidate(project, number: int, alpha: float) -> ModelVersion:
    return ModelVersion.objects.create(
        project=project,
        number=number,
        kind=GeneratorKind.COLDSTART,
        arch="cold start",
        params={"alpha": alpha, "use_grabcut": False, "size_rule": True},
        status=ModelStatus.CANDIDATE,
        snapshot_at=timezone.now(),
    )


def test_a_surely_worse_candidate_is_never_promoted_and_leaves_early():
    project, manager = loop_project(retrain={**NO_TRAINING, "calibrate_at": [100000]})
    worse = _candidate(project, 1, alpha=0.9)  # far too tight for these targets
    for seed in range(8):
        stream_frame(project, manager, seed=seed, radius2=5)
        assert serving_model(project) is None
    worse.refresh_from_db()
    assert worse.status == ModelStatus.REJECTED and worse.gate["reason"].endswith("surely worse")
    assert worse.gate["n_fresh"] == 5 and worse.gate["iou_gain"]["gain"] < 0  # as few frames as a sure win needs
    # Once rejected it predicts nothing more: the work per frame stays bounded.
    assert FrameScore.objects.filter(generator_key=f"v{worse.pk}").count() == 5


def test_a_candidate_no_better_leaves_after_its_window():
    project, manager = loop_project(retrain={**NO_TRAINING, "calibrate_at": [100000], "shadow_max_frames": 6})
    same = _candidate(project, 1, alpha=0.35)  # the default's own settings: never better, never worse
    for seed in range(7):
        stream_frame(project, manager, seed=seed, radius2=5)
    same.refresh_from_db()
    assert same.status == ModelStatus.REJECTED and same.gate["reason"].endswith("no sure gain")
    assert same.gate["n_fresh"] == 6 and serving_model(project) is None


def test_beyond_the_limit_the_worst_record_makes_room_not_the_oldest():
    project, manager = loop_project(retrain={**NO_TRAINING, "calibrate_at": [100000]})
    oldest = _candidate(project, 1, alpha=0.35)  # the default's own settings: no gain, the oldest
    worst = _candidate(project, 2, alpha=0.9)  # far too tight: the worst record
    others = [_candidate(project, 3, alpha=0.3), _candidate(project, 4, alpha=0.4)]
    for seed in range(2):
        stream_frame(project, manager, seed=seed, radius2=5)
    assert all(v.status == ModelStatus.CANDIDATE for v in ModelVersion.objects.filter(project=project))
    newest = _candidate(project, 5, alpha=0.25)  # a fifth challenger: one must go
    stream_frame(project, manager, seed=2, radius2=5)
    worst.refresh_from_db()
    assert worst.status == ModelStatus.REJECTED and "the worst record so far makes room" in worst.gate["reason"]
    assert worst.gate["iou_gain"]["gain"] < 0
    for version in (oldest, *others, newest):
        version.refresh_from_db()
        assert version.status == ModelStatus.CANDIDATE, version.number


def test_a_promotion_the_record_contradicts_is_rolled_back():
    project, manager = loop_project(retrain={**NO_TRAINING, "guard_frames": 10})
    for seed in range(5):
        stream_frame(project, manager, seed=seed, radius2=13)
    candidate = _calibrate_now(project)
    for seed in range(5, 10):
        stream_frame(project, manager, seed=seed, radius2=13)
    assert serving_model(project) == candidate
    # The annotators go back to tight masks: the replaced default settings now do better.
    for seed in range(10, 20):
        stream_frame(project, manager, seed=seed, radius2=5)
        if serving_model(project) is None:
            break
    candidate.refresh_from_db()
    assert serving_model(project) is None, "the worse generator kept serving"
    assert candidate.status == ModelStatus.REJECTED and candidate.gate["decision"] == "rollback"
    rollback = AuditLog.objects.get(action="loop.rollback", object_id=str(candidate.pk))
    assert rollback.data["back_to"] == "default" and rollback.data["iou_gain"]["gain"] > 0


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_racing_with_a_promotion_score_every_frame_exactly_once(monkeypatch):
    from labeling.services import prequential

    monkeypatch.setattr(prequential, "job_enqueue", lambda job: None)  # these two workers are the test's threads
    project, manager = loop_project(retrain=NO_TRAINING)
    for seed in range(5):
        stream_frame(project, manager, seed=seed, radius2=13)
    candidate = _calibrate_now(project)
    for seed in range(5, 9):
        stream_frame(project, manager, seed=seed, radius2=13)
    # Two more frames confirmed; their scoring runs at once in two workers, and either may promote.
    racing = [stream_frame(project, manager, seed=s, radius2=13, score=False) for s in (9, 10)]
    jobs = [Job.objects.get(image=image, kind=JobKind.SCORE) for image in racing]
    barrier, errors = threading.Barrier(2), []

    def run(job_id: int) -> None:
        try:
            barrier.wait()
            frame_score(job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job.pk,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert serving_model(project).pk == candidate.pk
    assert AuditLog.objects.filter(action="loop.promote").count() == 1
    for image in racing:
        assert FrameScore.objects.filter(image=image, kind=ScoreKind.SHOWN).count() == 1
        keys = list(
            FrameScore.objects.filter(image=image, kind=ScoreKind.REPLAY).values_list("generator_key", flat=True)
        )
        assert sorted(keys) == sorted(set(keys)) and f"v{candidate.pk}" in keys
    loop_decide(project)  # deciding again changes nothing
    assert AuditLog.objects.filter(action="loop.promote").count() == 1
