"""Ranking through a real Celery worker on the real Redis broker: the job's chunks run on `batch`, and the claim
then follows the stored scores."""

import pytest

from labeling.choices import JobStatus, Role
from labeling.models import Image
from labeling.services.images import image_claim
from labeling.services.jobs import job_wait
from labeling.services.projects import project_update
from labeling.services.ranking import frames_rank_request
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory
from tests.labeling.frames import blob_frame

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_ranking_job_runs_on_the_worker_and_the_claim_follows_it(worker):
    project = ProjectFactory()
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    frames = [ImageFactory(project=project, pixels=blob_frame(seed)[0]) for seed in (51, 52, 53)]

    job = job_wait(frames_rank_request(project=project, actor=manager), 120)
    assert job.status == JobStatus.SUCCEEDED, job.message
    job.refresh_from_db()
    assert (job.done, job.total, job.result["ranked"]) == (3, 3, 3) and job.errors == []
    scores = dict(Image.objects.filter(pk__in=[f.pk for f in frames]).values_list("pk", "uncertainty"))
    assert all(s is not None for s in scores.values())

    project = project_update(
        project=project, actor=manager, version=project.version, settings={"claim": {"order": "active"}}
    )
    assert image_claim(project=project, actor=annotator).pk == max(scores, key=lambda k: (scores[k], -k))
