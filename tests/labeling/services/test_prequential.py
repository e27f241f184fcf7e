"""The prequential record: each confirmed frame scored once with the masks the team was shown."""

import threading

import numpy as np
import pytest
from django.db import connection

from labeling import storage
from labeling.choices import ImageStatus, JobKind, MaskState, ScoreKind
from labeling.models import FrameScore, Job, Mask
from labeling.selectors import project_quality
from labeling.services.images import image_confirm
from labeling.services.loop import frame_score
from labeling.services.prequential import frame_truth, record_shown
from tests.factories import ImageFactory, TargetFactory
from tests.labeling.frames import blob_frame, confirmed_image, disk_masks, loop_project, stream_frame

pytestmark = pytest.mark.django_db


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return 100.0 * np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_the_record_scores_what_was_shown_not_what_was_confirmed():
    project, manager = loop_project()
    image = stream_frame(project, manager, seed=3, radius2=13)  # every shown mask was redrawn wider

    row = FrameScore.objects.get(image=image, kind=ScoreKind.SHOWN)
    # The shown masks are the generator's (kept as revisions when the annotator replaced them).
    truth = frame_truth(image)
    shown = np.zeros_like(truth.union)
    for mask in Mask.objects.filter(image=image):
        revision = mask.revisions.filter(source="coldstart").order_by("-version").first()
        shown |= storage.mask_decode(revision.rle, image.height, image.width)
    assert 100.0 * row.inter / row.union == pytest.approx(_iou(shown, truth.union))
    assert row.inter < row.union  # the team did get something else than it confirmed
    assert (row.generator_key, row.generator, row.n_targets, row.n_matched) == ("default", "cold start α 0.35", 2, 2)


def test_a_mask_confirmed_untouched_scores_100_and_the_frame_counts_once():
    project, manager = loop_project()
    pixels, centres, _ = blob_frame(5)
    image = ImageFactory(project=project, pixels=pixels, status=ImageStatus.IN_PROGRESS)
    for cx, cy in centres:
        TargetFactory(image=image, x=cx, y=cy)
    from labeling.services.generation import image_generate
    from labeling.services.jobs import job_create

    image_generate(
        job_id=job_create(
            project=project, kind="generate", actor=manager, image=image, payload={"image_id": image.pk}
        ).pk
    )
    image_confirm(image=image, actor=manager)
    job = Job.objects.get(image=image, kind=JobKind.SCORE)

    frame_score(job_id=job.pk)
    frame_score(job_id=job.pk)  # a redelivered message
    record_shown(frame_truth(image))  # and a second scorer

    row = FrameScore.objects.get(image=image, kind=ScoreKind.SHOWN)
    assert row.inter == row.union > 0
    assert FrameScore.objects.filter(image=image).count() == 2  # shown + the serving generator's replay
    # A re-confirmation after a rejection asks for no second scoring.
    from labeling.services.images import image_reject

    image_reject(image=image, actor=manager)
    image.refresh_from_db()
    image_confirm(image=image, actor=manager)
    assert Job.objects.filter(image=image, kind=JobKind.SCORE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_scorers_racing_on_one_frame_write_one_record_each(monkeypatch):
    from labeling.services import prequential

    monkeypatch.setattr(prequential, "job_enqueue", lambda job: None)  # no worker: the threads are the scorers
    project, manager = loop_project()
    image = stream_frame(project, manager, seed=1)
    FrameScore.objects.filter(image=image).delete()
    truth = frame_truth(image)
    barrier, errors = threading.Barrier(4), []

    def score() -> None:
        try:
            barrier.wait()
            record_shown(truth)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=score) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert FrameScore.objects.filter(image=image, kind=ScoreKind.SHOWN).count() == 1


def test_imported_labels_were_never_shown_and_get_no_record():
    project, _ = loop_project()
    image = confirmed_image(project, seed=2)  # masks created as human labels, no generator ever ran
    assert record_shown(frame_truth(image)) is None


def test_frames_without_targets_and_one_frame_projects_do_not_break_anything():
    project, manager = loop_project()
    empty = ImageFactory(project=project, pixels=blob_frame(0)[0], status=ImageStatus.IN_PROGRESS)
    image_confirm(image=empty, actor=manager)
    frame_score(job_id=Job.objects.get(image=empty, kind=JobKind.SCORE).pk)
    assert not FrameScore.objects.filter(image=empty, kind=ScoreKind.SHOWN).exists()
    quality = project_quality(user=manager, project=project)
    assert quality["frames"] == [] and quality["summary"]["frames"] == 0

    stream_frame(project, manager, seed=4)
    quality = project_quality(user=manager, project=project)
    assert [f["frame"] for f in quality["frames"]] == [1]
    assert quality["summary"]["late_shown_iou"] is None and quality["summary"]["mean_shown_iou"] > 0


def test_the_curve_follows_the_order_of_confirmation_and_pools_exactly():
    project, manager = loop_project()
    images = [stream_frame(project, manager, seed=s, radius2=5 + 4 * (s % 2)) for s in range(4)]
    quality = project_quality(user=manager, project=project)
    assert [f["image_id"] for f in quality["frames"]] == [i.pk for i in images]
    rows = FrameScore.objects.filter(project=project, kind=ScoreKind.SHOWN)
    pooled = 100.0 * sum(r.inter for r in rows) / sum(r.union for r in rows)
    assert quality["summary"]["mean_shown_iou"] == pytest.approx(pooled)
    assert quality["frames"][0]["iou"] == pytest.approx(
        100.0 * rows.get(image=images[0]).inter / rows.get(image=images[0]).union
    )


def test_a_target_whose_mask_was_never_generated_counts_as_shown_empty():
    project, manager = loop_project()
    image = stream_frame(project, manager, seed=6)
    truth = frame_truth(image)
    # Drawn by hand after the fact: a third target with its own confirmed mask and no prediction ever.
    size = image.height
    extra = TargetFactory(image=image, x=10.0, y=40.0)
    raster = disk_masks([(10.0, 40.0)], size, 5)[0]
    from tests.factories import MaskFactory

    MaskFactory(target=extra, raster=raster, source="human", state=MaskState.CONFIRMED)
    FrameScore.objects.filter(image=image).delete()
    row = record_shown(frame_truth(image))
    assert row.n_targets == 3 and row.n_matched == 2  # the hand-drawn target was missed by what was shown
    assert row.union > FrameScore(inter=0, union=np.count_nonzero(truth.union)).union
