"""Annotator QA: a submission keeps what the annotator handed in, the reviewer's confirmation scores it with the
IR metrics (what the reviewer had to change is what it measures), and only reviewers read the per-annotator
figures."""

import numpy as np
import pytest

from labeling.choices import MaskState, Role
from labeling.exceptions import ApplicationError
from labeling.models import Mask, Submission
from labeling.selectors import qa_summary
from labeling.services.images import image_claim, image_confirm, image_reject, image_submit
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, gradient

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    project = ProjectFactory()
    users = {role: MembershipFactory(project=project, role=role).user for role in Role.values}
    users["bob"] = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    return project, users


def _square(x: int, y: int, half: int = 1, shape=(16, 24)) -> np.ndarray:
    raster = np.zeros(shape, bool)
    raster[y - half : y + half + 1, x - half : x + half + 1] = True
    return raster


def _frame(project, annotator, squares):
    image = ImageFactory(project=project, pixels=gradient())
    image_claim(project=project, actor=annotator)
    for x, y in squares:
        MaskFactory(target=TargetFactory(image=image, x=x, y=y, created_by=annotator), raster=_square(x, y))
    return image


def test_submit_keeps_the_points_masks_and_time_and_confirm_scores_them(team):
    project, users = team
    annotator, reviewer = users[Role.ANNOTATOR], users[Role.REVIEWER]
    image = _frame(project, annotator, [(4, 4), (15, 9)])
    image = image_submit(image=image, actor=annotator)
    sub = Submission.objects.get(image=image)
    assert sub.annotator == annotator and sub.points == [[4.0, 4.0], [15.0, 9.0]] and all(sub.masks)
    assert sub.started_at is not None and sub.seconds >= 0 and sub.scored_at is None

    image_confirm(image=image, actor=reviewer)  # confirmed unchanged: a perfect record
    sub.refresh_from_db()
    assert sub.reviewer == reviewer and sub.scored_at is not None
    assert (sub.inter, sub.union, sub.n_targets, sub.n_matched, sub.n_false) == (18, 18, 2, 2, 0)
    figures = qa_summary(user=reviewer, project=project)["annotators"]
    assert [(a["username"], a["frames"], a["iou"], a["pd"], a["fat"]) for a in figures] == [
        (annotator.username, 1, 100.0, 100.0, 0.0)
    ]


def test_what_the_reviewer_changed_is_what_the_figures_measure(team):
    project, users = team
    bob, reviewer = users["bob"], users[Role.REVIEWER]
    image = _frame(project, bob, [(4, 4), (20, 12)])  # (20, 12) is clutter; a target at (12, 8) was missed
    image = image_submit(image=image, actor=bob)
    image = image_reject(image=image, actor=reviewer, comment="one missed, one false")
    Mask.objects.filter(target__image=image, target__x=20).delete()
    image.targets.filter(x=20).delete()
    MaskFactory(target=TargetFactory(image=image, x=12, y=8), raster=_square(12, 8))
    image = image_submit(image=image, actor=bob)  # resubmitted as the reviewer fixed it
    image_confirm(image=image, actor=reviewer)
    first, second = Submission.objects.filter(image=image).order_by("pk")
    assert (first.n_targets, first.n_matched, first.n_false) == (2, 1, 1)
    assert (second.n_targets, second.n_matched, second.n_false) == (2, 2, 0)
    (bob_row,) = qa_summary(user=reviewer, project=project)["annotators"]
    assert bob_row["frames"] == 2 and bob_row["pd"] == 75.0 and bob_row["false_targets"] == 1
    assert 0 < bob_row["iou"] < 100
    assert Mask.objects.filter(image=image, state=MaskState.CONFIRMED).count() == 2


def test_only_reviewers_read_the_figures_and_unconfirmed_work_waits(team):
    project, users = team
    image = image_submit(image=_frame(project, users[Role.ANNOTATOR], [(4, 4)]), actor=users[Role.ANNOTATOR])
    for role in (Role.VIEWER, Role.ANNOTATOR):
        with pytest.raises(ApplicationError) as caught:
            qa_summary(user=users[role], project=project)
        assert caught.value.status_code == 403
    summary = qa_summary(user=users[Role.MANAGER], project=project)
    no_pairs = {"pairs": 0, "iou": None, "second_pass_waiting": 0}
    assert summary == {"annotators": [], "series": [], "waiting": 1, "double": no_pairs}
    image_confirm(image=image, actor=users[Role.REVIEWER])
    summary = qa_summary(user=users[Role.OWNER], project=project)
    assert summary["waiting"] == 0 and summary["series"][0]["days"][0]["frames"] == 1


def test_gold_frames_arrive_unlabelled_and_score_a_submission_at_once(team):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from labeling.choices import ImageStatus
    from labeling.models import GoldTruth, Image, Target
    from labeling.services.datasets import dataset_import, dataset_import_request
    from tests.labeling.services.datasets.helpers import frame, mask_png, zip_bytes

    project, users = team
    manager, annotator = users[Role.MANAGER], users[Role.ANNOTATOR]
    gold = _square(4, 4) | _square(15, 9)
    archive = zip_bytes({"images/g1.png": frame(1), "masks/g1.png": mask_png(gold)})
    with pytest.raises(ApplicationError, match="gold and confirm exclude each other"):
        dataset_import_request(
            project=project, upload=SimpleUploadedFile("g.zip", archive), actor=manager, confirm=True, gold=True
        )
    upload = SimpleUploadedFile("g.zip", archive, "application/zip")
    job = dataset_import_request(project=project, upload=upload, actor=manager, gold=True, enqueue=False)
    dataset_import(job_id=job.pk)
    image = Image.objects.get(project=project)
    assert image.status == ImageStatus.NEW and not Target.objects.filter(image=image).exists()  # normal work
    assert len(GoldTruth.objects.get(image=image).points) == 2

    claimed = image_claim(project=project, actor=annotator)  # hidden among normal work: claimed like any frame
    assert claimed.pk == image.pk
    MaskFactory(target=TargetFactory(image=image, x=4, y=4, created_by=annotator), raster=_square(4, 4))
    image_submit(image=image, actor=annotator)  # one of two targets found
    sub = Submission.objects.get(image=image)
    assert sub.reference == "gold" and sub.scored_at is not None and (sub.n_targets, sub.n_matched) == (2, 1)
    (row,) = qa_summary(user=users[Role.REVIEWER], project=project)["annotators"]
    assert row["frames"] == 0 and row["gold"]["frames"] == 1 and row["gold"]["pd"] == 50.0
