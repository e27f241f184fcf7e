"""Suggested targets: which frames the detector runs on, accept / reject / accept all, and that a suggestion is
never a label (not exported, not counted, not a pre-label or training input) until accepted."""

import json
import zipfile

import pytest

from labeling.choices import ImageStatus, JobKind, JobStatus, MaskSource, MaskState, Role, SuggestionState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, Job, Suggestion, Target
from labeling.services.chunked_jobs import MAX_CHUNK_ATTEMPTS
from labeling.services.prelabel import prelabel_candidates
from labeling.services.suggestions import (
    image_suggest,
    suggestion_accept,
    suggestion_reject,
    suggestions_accept_all,
    suggestions_detect,
    suggestions_detect_request,
)
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.labeling.frames import blob_frame

pytestmark = pytest.mark.django_db


def _frame(project, seed, **fields):
    pixels, centres, _ = blob_frame(seed)
    return ImageFactory(project=project, pixels=pixels, original_name=f"blobs_{seed}.png", **fields), centres


def _near(point, centres, px=2.0):
    return any(abs(point[0] - x) <= px and abs(point[1] - y) <= px for x, y in centres)


def _run(job: Job) -> Job:
    for chunk in range(job.payload["chunks"]):
        suggestions_detect(job_id=job.pk, chunk=chunk)
    job.refresh_from_db()
    return job


@pytest.fixture
def team():
    project = ProjectFactory()
    roles = {role: MembershipFactory(project=project, role=role).user for role in Role.values}
    return project, roles


def test_the_project_job_proposes_targets_on_frames_without_points_only(team):
    project, users = team
    empty, centres = _frame(project, 1)
    pointed, _ = _frame(project, 2)
    TargetFactory(image=pointed, x=3, y=3)
    _frame(project, 3, status=ImageStatus.CONFIRMED)
    job = suggestions_detect_request(project=project, actor=users[Role.MANAGER])
    assert job.kind == JobKind.DETECT and job.payload["image_ids"] == [empty.pk]
    job = _run(job)
    assert job.status == JobStatus.SUCCEEDED and (job.done, job.total) == (1, 1)
    found = list(Suggestion.objects.filter(image=empty))
    assert len(found) == 2 and job.result["suggested"] == 2 and "2 suggested targets on 1 of 1 frames" in job.message
    assert all(_near((s.x, s.y), centres) for s in found)
    assert all(s.state == SuggestionState.PENDING and s.source == "detector" and s.score >= 7 for s in found)
    assert found[0].params["scales"] == [3, 5, 7] and found[0].job_id == job.pk
    # The image is untouched: still new, no target, nothing for pre-label.
    empty.refresh_from_db()
    assert empty.status == ImageStatus.NEW and not Target.objects.filter(image=empty).exists()


def test_a_rerun_replaces_pending_ones_and_never_proposes_a_rejected_one_or_an_existing_target_again(team):
    project, users = team
    image, centres = _frame(project, 4)
    assert image_suggest(image=image) == 2
    first, second = Suggestion.objects.filter(image=image).order_by("-score")
    suggestion_reject(suggestion=first, actor=users[Role.ANNOTATOR])
    assert image_suggest(image=image) == 1  # the rejected one is remembered; the pending one is replaced
    assert Suggestion.objects.filter(image=image, state=SuggestionState.PENDING).count() == 1
    assert not Suggestion.objects.filter(pk=second.pk).exists()
    pending = Suggestion.objects.get(image=image, state=SuggestionState.PENDING)
    TargetFactory(image=image, x=pending.x + 1, y=pending.y)  # someone clicked it by hand meanwhile
    assert image_suggest(image=image) == 0


def test_accept_makes_a_target_that_generates_its_mask_and_twice_is_a_conflict(team):
    project, users = team
    image, _ = _frame(project, 5)
    image_suggest(image=image)
    suggestion = Suggestion.objects.filter(image=image).first()
    target = suggestion_accept(suggestion=suggestion, actor=users[Role.ANNOTATOR])
    assert (target.x, target.y, target.created_by) == (suggestion.x, suggestion.y, users[Role.ANNOTATOR])
    suggestion.refresh_from_db()
    assert suggestion.state == SuggestionState.ACCEPTED and suggestion.target == target
    assert suggestion.decided_by == users[Role.ANNOTATOR] and suggestion.decided_at is not None
    image.refresh_from_db()
    assert image.status == ImageStatus.IN_PROGRESS  # as for a click
    assert Job.objects.filter(image=image, kind=JobKind.GENERATE).count() == 1  # the usual mask generation
    audit = AuditLog.objects.get(action="suggestion.accept")
    assert audit.data["target_id"] == target.pk and audit.actor == users[Role.ANNOTATOR]
    with pytest.raises(ConflictError, match="already accepted"):
        suggestion_accept(suggestion=suggestion, actor=users[Role.ANNOTATOR])
    with pytest.raises(ConflictError, match="already accepted"):
        suggestion_reject(suggestion=suggestion, actor=users[Role.ANNOTATOR])


def test_accept_all_adds_every_pending_one_with_one_generation_and_keeps_existing_targets(team):
    project, users = team
    image, centres = _frame(project, 6)
    image_suggest(image=image)
    kept = TargetFactory(image=image, x=1, y=1)
    targets = suggestions_accept_all(image=image, actor=users[Role.ANNOTATOR])
    assert len(targets) == 2 and all(_near((t.x, t.y), centres) for t in targets)
    assert set(Target.objects.filter(image=image).values_list("pk", flat=True)) == {kept.pk, *(t.pk for t in targets)}
    assert not Suggestion.objects.filter(image=image, state=SuggestionState.PENDING).exists()
    assert Job.objects.filter(image=image, kind=JobKind.GENERATE).count() == 1
    assert suggestions_accept_all(image=image, actor=users[Role.ANNOTATOR]) == []


def test_who_may_do_what(team):
    project, users = team
    image, _ = _frame(project, 7)
    image_suggest(image=image)
    suggestion = Suggestion.objects.filter(image=image).first()
    for action in (suggestion_accept, suggestion_reject):
        with pytest.raises(ApplicationError) as refused:
            action(suggestion=suggestion, actor=users[Role.VIEWER])
        assert refused.value.status_code == 403
    with pytest.raises(ApplicationError) as refused:
        suggestions_detect_request(project=project, actor=users[Role.ANNOTATOR])
    assert refused.value.status_code == 403 and "manager" in refused.value.message
    one = suggestions_detect_request(project=project, actor=users[Role.ANNOTATOR], image=image)
    assert one.image == image and one.payload["image_ids"] == [image.pk]
    confirmed, _ = _frame(project, 8)
    image_suggest(image=confirmed)
    type(confirmed).objects.filter(pk=confirmed.pk).update(status=ImageStatus.CONFIRMED)
    confirmed.refresh_from_db()
    with pytest.raises(ApplicationError, match="confirmed"):
        suggestions_detect_request(project=project, actor=users[Role.ANNOTATOR], image=confirmed)
    left = Suggestion.objects.filter(image=confirmed).first()
    for attempt in (
        lambda: suggestion_accept(suggestion=left, actor=users[Role.REVIEWER]),
        lambda: suggestions_accept_all(image=confirmed, actor=users[Role.REVIEWER]),
    ):
        with pytest.raises(ConflictError, match="confirmed"):  # a confirmed image gets no new target this way
            attempt()
    assert not Target.objects.filter(image=confirmed).exists()


def test_a_deleted_frame_is_an_error_of_the_job_not_its_end(team):
    project, users = team
    good, _ = _frame(project, 9)
    bad, _ = _frame(project, 10)
    job = suggestions_detect_request(project=project, actor=users[Role.MANAGER])
    bad_id = bad.pk
    bad.delete()
    job = _run(job)
    assert job.status == JobStatus.SUCCEEDED and job.done == 2
    assert [e["item"] for e in job.errors] == [bad_id] and "deleted" in job.errors[0]["message"]
    assert Suggestion.objects.filter(image=good).count() == 2


def test_a_redelivered_chunk_never_counts_a_frame_twice(team):
    project, users = team
    _frame(project, 11)
    job = suggestions_detect_request(project=project, actor=users[Role.MANAGER])
    suggestions_detect(job_id=job.pk, chunk=0)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)  # as if the worker died before finishing it
    suggestions_detect(job_id=job.pk, chunk=0)
    job.refresh_from_db()
    assert job.result["suggested"] == 2 and Suggestion.objects.filter(state=SuggestionState.PENDING).count() == 2
    assert job.result["chunk_made"] == {"0": 2}  # one count per chunk: the job row does not grow with its frames


def test_a_chunk_whose_worker_was_lost_too_often_is_given_up_as_errors(team):
    """A frame that kills its worker every time must not kill workers for ever: after MAX_CHUNK_ATTEMPTS
    deliveries the chunk's unfinished frames become the job's errors and the job finishes."""
    project, users = team
    frames = [_frame(project, seed)[0] for seed in (12, 13)]
    job = suggestions_detect_request(project=project, actor=users[Role.MANAGER])
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, result={"chunk_done": {"0": 1}, "chunk_attempts": {"0": MAX_CHUNK_ATTEMPTS}}
    )
    suggestions_detect(job_id=job.pk, chunk=0)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.done == 2
    assert [e["item"] for e in job.errors] == [frames[1].pk] and "lost repeatedly" in job.errors[0]["message"]
    assert not Suggestion.objects.filter(image=frames[1]).exists()


def test_pending_suggestions_are_never_labels(team, tmp_path):
    """Not in any export format, not in the stats or the image's status, not a pre-label candidate; only an accepted
    one is a point, and a confirmed frame exports exactly its targets."""
    from tests.labeling.services.datasets.helpers import run_export

    project, users = team
    image, _ = _frame(project, 12)
    done, _ = _frame(project, 13)
    image_suggest(image=image)
    image_suggest(image=done)
    assert Suggestion.objects.filter(state=SuggestionState.PENDING).count() == 4
    accepted = suggestion_accept(suggestion=Suggestion.objects.filter(image=done).first(), actor=users[Role.OWNER])
    MaskFactory(target=accepted, state=MaskState.CONFIRMED, source=MaskSource.HUMAN)
    type(done).objects.filter(pk=done.pk).update(status=ImageStatus.CONFIRMED)  # one pending suggestion left on it

    assert list(prelabel_candidates(project)) == []
    job, zf = run_export(project, users[Role.MANAGER])
    assert job.status == JobStatus.SUCCEEDED, job.message
    root = tmp_path / "export"
    zipfile.ZipFile(zf.filename).extractall(root)
    points = {p.stem: json.loads(p.read_text())["points"] for p in (root / "points").glob("*.json")}
    assert points[image.original_name[:-4]] == []
    assert [(p["x"], p["y"]) for p in points[done.original_name[:-4]]] == [(accepted.x, accepted.y)]
    coco = json.loads((root / "annotations" / "instances.json").read_text())
    ids = {i["file_name"]: i["id"] for i in coco["images"]}
    assert [a for a in coco["annotations"] if a["image_id"] == ids[image.original_name]] == []
    assert len([a for a in coco["annotations"] if a["image_id"] == ids[done.original_name]]) == 1
    assert not any(i.get("unmasked_points") for i in coco["images"])
    image.refresh_from_db()
    assert image.status == ImageStatus.NEW and image.version == 1
