"""The active claim order: ranking stores each open frame's score, "next image" hands out the least sure frame
first when the project asks for it (upload order otherwise), only a manager ranks, and a promotion re-ranks."""

import pytest

from labeling.choices import GeneratorKind, ImageStatus, JobKind, JobStatus, ModelStatus, Role
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job
from labeling.services.images import image_claim
from labeling.services.projects import project_update
from labeling.services.ranking import frames_rank, frames_rank_request, image_rank, rank_after_promotion, rank_specs
from tests.factories import ImageFactory, MembershipFactory, ModelVersionFactory, ProjectFactory, TargetFactory
from tests.labeling.frames import blob_frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    project = ProjectFactory()
    roles = {role: MembershipFactory(project=project, role=role).user for role in Role.values}
    return project, roles


def _frame(project, seed, **fields):
    pixels, centres, _ = blob_frame(seed)
    return ImageFactory(project=project, pixels=pixels, original_name=f"blobs_{seed}.png", **fields), centres


def _active(project, manager):
    return project_update(
        project=project, actor=manager, version=project.version, settings={"claim": {"order": "active"}}
    )


def _run(job: Job) -> Job:
    for chunk in range(job.payload["chunks"]):
        frames_rank(job_id=job.pk, chunk=chunk)
    job.refresh_from_db()
    return job


def test_the_job_ranks_every_open_frame_and_leaves_confirmed_ones_out(team):
    project, users = team
    clicked, centres = _frame(project, 1)
    for x, y in centres:
        TargetFactory(image=clicked, x=x, y=y)
    unclicked, _ = _frame(project, 2)
    confirmed, _ = _frame(project, 3, status=ImageStatus.CONFIRMED)
    job = frames_rank_request(project=project, actor=users[Role.MANAGER])
    assert job.kind == JobKind.RANK and job.payload["image_ids"] == [clicked.pk, unclicked.pk]
    job = _run(job)
    assert job.status == JobStatus.SUCCEEDED and job.result["ranked"] == 2 and job.errors == []
    for image, source in ((clicked, "targets"), (unclicked, "detector")):
        image.refresh_from_db()
        assert 0.0 <= image.uncertainty <= 1.0
        detail = image.uncertainty_detail
        assert detail["points"] == source and detail["score"] == image.uncertainty and "ranked_at" in detail
        assert detail["compared"] == "cold start vs base weights"
    assert clicked.uncertainty_detail["n_points"] == 2
    confirmed.refresh_from_db()
    assert confirmed.uncertainty is None and image_rank(image=confirmed) is None


def test_only_a_manager_ranks_and_a_refusal_changes_nothing(team):
    project, users = team
    _frame(project, 1)
    for role in (Role.VIEWER, Role.ANNOTATOR, Role.REVIEWER):
        with pytest.raises(ApplicationError) as caught:
            frames_rank_request(project=project, actor=users[role])
        assert caught.value.status_code == 403
    assert not Job.objects.filter(kind=JobKind.RANK).exists()
    other, _ = _frame(ProjectFactory(), 2)
    with pytest.raises(ApplicationError) as caught:
        frames_rank_request(project=project, actor=users[Role.OWNER], image_ids=[other.pk])
    assert caught.value.extra["missing"] == [other.pk]
    assert not Job.objects.filter(kind=JobKind.RANK).exists()


def test_active_order_hands_out_the_least_sure_frame_first_then_unranked_ones_by_id(team):
    project, users = team
    calm, _ = _frame(project, 1)
    unsure, _ = _frame(project, 2)
    unranked_a, _ = _frame(project, 3)
    unranked_b, _ = _frame(project, 4)
    Image.objects.filter(pk=calm.pk).update(uncertainty=0.1)
    Image.objects.filter(pk=unsure.pk).update(uncertainty=0.7)
    annotators = [MembershipFactory(project=project, role=Role.ANNOTATOR).user for _ in range(4)]
    assert image_claim(project=project, actor=annotators[0]).pk == calm.pk  # upload order by default

    project = _active(project, users[Role.MANAGER])
    got = [image_claim(project=project, actor=a).pk for a in annotators[1:]]
    assert got == [unsure.pk, unranked_a.pk, unranked_b.pk]


def test_the_claim_order_setting_is_checked():
    project = ProjectFactory()
    owner = MembershipFactory(project=project, role=Role.OWNER).user
    with pytest.raises(ApplicationError, match="settings.claim.order must be one of id, active"):
        project_update(project=project, actor=owner, version=project.version, settings={"claim": {"order": "random"}})


def test_what_is_compared_follows_the_serving_generator(team, tmp_path, settings):
    project, _ = team
    serving, other, label = rank_specs(project)
    assert (serving.method, other.method, label) == ("coldstart", "edgsp", "cold start vs base weights")
    checkpoint = tmp_path / "v.pt"
    checkpoint.write_bytes(b"x")
    version = ModelVersionFactory(
        project=project, kind=GeneratorKind.EDGSP, checkpoint=str(checkpoint), status=ModelStatus.CANDIDATE
    )
    serving, other, label = rank_specs(project)
    assert other.checkpoint == str(checkpoint) and label == f"cold start vs v{version.number}"
    version.status = ModelStatus.PROMOTED
    version.save()
    serving, other, label = rank_specs(project)
    assert (serving.checkpoint, other.method, label) == (str(checkpoint), "coldstart", f"v{version.pk} vs cold start")


def test_a_promotion_reranks_only_a_project_in_active_order(team):
    project, users = team
    _frame(project, 1)
    assert rank_after_promotion(project) is None
    project = _active(project, users[Role.MANAGER])
    job = rank_after_promotion(project)
    assert job is not None and job.kind == JobKind.RANK and job.created_by_id is None
