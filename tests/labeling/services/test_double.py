"""Double annotation: a picked frame's first submit is kept aside as a blind first pass and the frame goes back to
the pool for someone else; the second pass is scored against the first (inter-annotator agreement), both are scored
against the confirmed masks, and the first annotator can neither redo, see nor confirm the frame meanwhile."""

from types import SimpleNamespace

import numpy as np
import pytest

from labeling.choices import ImageStatus, Role, SuggestionState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, GoldTruth, Image, Submission, Suggestion, Target
from labeling.selectors import image_double, qa_summary
from labeling.services.double import double_picked
from labeling.services.images import image_claim, image_confirm, image_reject, image_submit
from labeling.services.projects import project_update
from labeling.services.targets import target_add
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, gradient

pytestmark = pytest.mark.django_db


def _square(x: int, y: int, half: int = 1, shape=(16, 24)) -> np.ndarray:
    raster = np.zeros(shape, bool)
    raster[y - half : y + half + 1, x - half : x + half + 1] = True
    return raster


def _label(image, annotator, squares, half=1):
    for x, y in squares:
        target = TargetFactory(image=image, x=x, y=y, created_by=annotator)
        MaskFactory(target=target, raster=_square(x, y, half))


@pytest.fixture
def team():
    project = ProjectFactory(settings={"qa": {"double_share": 1.0}})
    users = {role: MembershipFactory(project=project, role=role).user for role in Role.values}
    users["bob"] = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    return project, users


def test_the_picked_share_is_stable_and_near_the_setting():
    frames = [SimpleNamespace(project_id=7, pk=pk) for pk in range(1, 4001)]
    picked = [f.pk for f in frames if double_picked(f, 0.25)]
    assert 0.22 < len(picked) / len(frames) < 0.28
    assert picked == [f.pk for f in frames if double_picked(f, 0.25)]  # the same frames every time
    assert set(picked) <= {f.pk for f in frames if double_picked(f, 0.5)}  # a larger share adds frames
    assert not any(double_picked(f, 0.0) for f in frames) and all(double_picked(f, 1.0) for f in frames)


def test_two_blind_passes_are_kept_compared_and_scored(team):
    project, users = team
    ann, bob, reviewer = users[Role.ANNOTATOR], users["bob"], users[Role.REVIEWER]
    image = ImageFactory(project=project, pixels=gradient())
    Suggestion.objects.create(image=image, x=4, y=4, score=9.0, source="detector", state=SuggestionState.REJECTED)
    assert image_claim(project=project, actor=ann).pk == image.pk
    _label(image, ann, [(4, 4), (15, 9)])
    image = image_submit(image=image, actor=ann)

    # The first pass is kept aside; the frame is new, empty and unassigned again, its suggestions offered again.
    assert (image.status, image.assigned_to, image.submitted_by, image.first_pass_by) == ("new", None, None, ann)
    assert not Target.objects.filter(image=image).exists()
    assert Suggestion.objects.get(image=image).state == SuggestionState.PENDING
    first = Submission.objects.get(image=image)
    assert first.blind_pass == 1 and first.points == [[4.0, 4.0], [15.0, 9.0]] and all(first.masks)
    assert AuditLog.objects.filter(action="image.double_first_pass", object_id=str(image.pk)).exists()

    # Its first annotator can neither claim it again, nor change or submit it.
    with pytest.raises(ApplicationError, match="No image is left"):
        image_claim(project=project, actor=ann)
    for attempt in (lambda: target_add(image=image, x=4, y=4, actor=ann), lambda: image_submit(image=image, actor=ann)):
        with pytest.raises(ApplicationError, match="first pass") as caught:
            attempt()
        assert caught.value.status_code == 403
    assert not Target.objects.filter(image=image).exists()
    with pytest.raises(ApplicationError) as caught:  # annotators do not read each other's pass
        image_double(user=ann, image=image)
    assert caught.value.status_code == 403
    waiting = image_double(user=reviewer, image=image)
    assert waiting["waiting_for_second"] is True  # a reviewer may make the second pass: the first stays hidden
    assert waiting["passes"][0]["points"] == [] and waiting["passes"][0]["masks"] == []
    assert qa_summary(user=reviewer, project=project)["annotators"] == []  # nothing scored or paired yet
    with pytest.raises(ConflictError, match="waits for its second, blind pass"):  # no labels: nothing to confirm
        image_confirm(image=image, actor=users[Role.MANAGER])
    assert Image.objects.get(pk=image.pk).status == ImageStatus.NEW

    # The second annotator labels it blind: one target the same, one missed, one extra.
    assert image_claim(project=project, actor=bob).pk == image.pk
    _label(image, bob, [(4, 4), (20, 12)])
    image = image_submit(image=image, actor=bob)
    assert image.status == ImageStatus.SUBMITTED and image.submitted_by == bob
    first.refresh_from_db()
    second = Submission.objects.get(image=image, blind_pass=2)
    assert first.peer == second and second.peer == first
    assert (second.agreement["n_targets"], second.agreement["n_matched"], second.agreement["n_false"]) == (2, 1, 1)
    assert second.agreement["inter"] == 9 and second.agreement["union"] == 27  # the agreement IoU: 1/3
    assert first.agreement["inter"] == 9 and first.agreement["union"] == 27

    double = image_double(user=reviewer, image=image)
    assert [p["annotator"] for p in double["passes"]] == [ann.username, bob.username]
    assert double["agreement"]["pd"] == 50.0 and double["agreement"]["iou"] == pytest.approx(33.33, abs=0.01)
    summary = qa_summary(user=reviewer, project=project)
    assert summary["double"] == {"pairs": 1, "iou": pytest.approx(33.33, abs=0.01), "second_pass_waiting": 0}
    rows = {a["username"]: a for a in summary["annotators"]}
    assert rows[ann.username]["agreement"]["frames"] == 1 and rows[bob.username]["agreement"]["pd"] == 50.0

    # The reviewer confirms the second pass as it is: both passes are scored against it.
    image_confirm(image=image, actor=reviewer)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.scored_at is not None and second.inter == second.union == 18
    assert first.scored_at is not None and (first.n_targets, first.n_matched) == (2, 1)


def test_the_first_annotator_may_not_confirm_it_either(team):
    project, users = team
    reviewer, other_reviewer, bob = users[Role.REVIEWER], users[Role.MANAGER], users["bob"]
    image = ImageFactory(project=project, pixels=gradient())
    _label(image, reviewer, [(4, 4)])
    image = image_submit(image=image, actor=reviewer)  # a reviewer's own labelling is a first pass too
    assert image.first_pass_by == reviewer
    image_claim(project=project, actor=bob)
    _label(image, bob, [(4, 4)])
    image = image_submit(image=image, actor=bob)
    with pytest.raises(ApplicationError, match="another reviewer") as caught:
        image_confirm(image=image, actor=reviewer)
    assert caught.value.status_code == 403
    assert image_confirm(image=image, actor=other_reviewer).status == ImageStatus.CONFIRMED


def test_a_resubmit_a_gold_frame_or_a_lone_annotator_is_not_doubled(team):
    project, users = team
    ann, bob, reviewer = users[Role.ANNOTATOR], users["bob"], users[Role.REVIEWER]
    image = ImageFactory(project=project, pixels=gradient())
    _label(image, ann, [(4, 4)])
    image = image_submit(image=image, actor=ann)
    image_claim(project=project, actor=bob)
    _label(image, bob, [(4, 4)])
    image = image_submit(image=image, actor=bob)
    image = image_reject(image=image, actor=reviewer, comment="again")
    image = image_submit(image=image, actor=bob)  # a resubmit: labelled, not a new first pass
    assert image.status == ImageStatus.SUBMITTED
    assert list(Submission.objects.filter(image=image).values_list("blind_pass", flat=True)) == [1, 2, None]

    gold = ImageFactory(project=project, pixels=gradient(seed=1))
    GoldTruth.objects.create(image=gold, points=[[4, 4]], masks=[None])
    _label(gold, ann, [(4, 4)])
    assert image_submit(image=gold, actor=ann).status == ImageStatus.SUBMITTED  # gold frames score already

    alone = ProjectFactory(settings={"qa": {"double_share": 1.0}})
    solo = MembershipFactory(project=alone, role=Role.OWNER).user
    MembershipFactory(project=alone, role=Role.VIEWER)
    frame = ImageFactory(project=alone, pixels=gradient())
    _label(frame, solo, [(4, 4)])
    frame = image_submit(image=frame, actor=solo)  # nobody else could make the second pass
    assert frame.status == ImageStatus.SUBMITTED and frame.first_pass_by is None
    assert Image.objects.filter(first_pass_by__isnull=False).count() == 1


def test_the_share_is_a_validated_setting(team):
    project, users = team
    with pytest.raises(ApplicationError, match=r"qa.double_share must lie in \[0, 1\]"):
        project_update(
            project=project, actor=users[Role.OWNER], version=project.version, settings={"qa": {"double_share": 1.5}}
        )
    project = project_update(
        project=project, actor=users[Role.OWNER], version=project.version, settings={"qa": {"double_share": 0}}
    )
    image = ImageFactory(project=project, pixels=gradient())
    _label(image, users["bob"], [(4, 4)])
    assert image_submit(image=image, actor=users["bob"]).status == ImageStatus.SUBMITTED


def test_a_first_pass_whose_annotator_was_deleted_is_still_paired(team):
    project, users = team
    leaver = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    image = ImageFactory(project=project, pixels=gradient())
    _label(image, leaver, [(4, 4)])
    image_submit(image=image, actor=leaver)
    leaver.delete()  # the account goes; the first pass stays, unnamed
    image = Image.objects.get(pk=image.pk)
    assert image.first_pass_by is None and image.status == ImageStatus.NEW
    with pytest.raises(ConflictError, match="waits for its second"):  # still no labels to confirm
        image_confirm(image=image, actor=users[Role.REVIEWER])
    image_claim(project=project, actor=users["bob"])
    _label(image, users["bob"], [(4, 4)])
    image_submit(image=image, actor=users["bob"])
    first, second = Submission.objects.filter(image=image).order_by("pk")
    assert (first.blind_pass, second.blind_pass, first.peer, first.annotator) == (1, 2, second, None)
    assert qa_summary(user=users[Role.REVIEWER], project=project)["double"]["second_pass_waiting"] == 0


def test_the_first_annotator_cannot_steer_the_second_pass_through_masks_or_suggestions(team):
    from labeling.services.masks import mask_replace
    from labeling.services.suggestions import suggestion_reject

    project, users = team
    ann, bob = users[Role.ANNOTATOR], users["bob"]
    image = ImageFactory(project=project, pixels=gradient())
    suggestion = Suggestion.objects.create(image=image, x=15, y=9, score=9.0, source="detector")
    _label(image, ann, [(4, 4)])
    image = image_submit(image=image, actor=ann)
    image_claim(project=project, actor=bob)
    _label(image, bob, [(4, 4)])
    target = Target.objects.get(image=image)
    for attempt in (
        lambda: mask_replace(target=target, raster=_square(4, 4, 2), version=1, actor=ann),
        lambda: suggestion_reject(suggestion=suggestion, actor=ann),
    ):
        with pytest.raises(ApplicationError, match="first pass") as caught:
            attempt()
        assert caught.value.status_code == 403
    assert Suggestion.objects.get(pk=suggestion.pk).state == SuggestionState.PENDING
    assert mask_replace(target=target, raster=_square(4, 4, 2), version=1, actor=bob).area == 25


def test_a_frame_with_labels_not_the_submitters_own_is_never_cleared(team):
    project, users = team
    ann, bob = users[Role.ANNOTATOR], users["bob"]
    imported = ImageFactory(project=project, pixels=gradient())
    TargetFactory(image=imported, x=4, y=4, created_by=None)  # an imported point the annotator kept
    _label(imported, ann, [(15, 9)])
    assert image_submit(image=imported, actor=ann).status == ImageStatus.SUBMITTED
    assert Target.objects.filter(image=imported).count() == 2

    reopened = ImageFactory(project=project, pixels=gradient(seed=2))
    _label(reopened, bob, [(4, 4)])
    reopened = image_confirm(image=reopened, actor=users[Role.REVIEWER])  # confirmed without a submit
    reopened = image_reject(image=reopened, actor=users[Role.REVIEWER], comment="look again")
    assert image_submit(image=reopened, actor=bob).status == ImageStatus.SUBMITTED
    assert Target.objects.filter(image=reopened).count() == 1 and not Submission.objects.filter(blind_pass=1)


def test_with_nobody_else_left_the_first_annotator_finishes_the_frame(team):
    from django.contrib.auth import get_user_model

    project, users = team
    ann = users[Role.ANNOTATOR]
    image = ImageFactory(project=project, pixels=gradient(), uncertainty=0.8, uncertainty_detail={"n_points": 1})
    _label(image, ann, [(4, 4)])
    image = image_submit(image=image, actor=ann)
    assert image.uncertainty is None and image.uncertainty_detail == {}  # its ranking counted the first pass
    others = [u.pk for key, u in users.items() if u != ann]
    get_user_model().objects.filter(pk__in=others).update(is_active=False)  # everyone else leaves
    assert image_claim(project=project, actor=ann).pk == image.pk
    _label(image, ann, [(4, 4)])
    image = image_submit(image=image, actor=ann)
    assert image.status == ImageStatus.SUBMITTED
    assert list(Submission.objects.filter(image=image).values_list("blind_pass", flat=True)) == [None, None]
    assert AuditLog.objects.filter(action="image.double_dropped", object_id=str(image.pk)).exists()
