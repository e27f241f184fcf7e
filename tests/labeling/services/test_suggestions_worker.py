"""Suggested targets through a real Celery worker on the real Redis broker: the project's detection job runs in
chunks on `batch`, and an accepted suggestion gets its mask from the usual generation on `interactive`."""

import pytest

from labeling.choices import JobKind, JobStatus, MaskState, Role, SuggestionState
from labeling.models import Job, Mask, Suggestion
from labeling.services.jobs import job_wait
from labeling.services.suggestions import suggestion_accept, suggestions_detect_request
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.labeling.frames import blob_frame

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_detection_job_runs_on_the_worker_and_an_accepted_suggestion_gets_its_mask(worker):
    project = ProjectFactory()
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    frames = [ImageFactory(project=project, pixels=blob_frame(seed)[0]) for seed in (31, 32)]
    pointed = ImageFactory(project=project, pixels=blob_frame(33)[0])
    TargetFactory(image=pointed, x=5, y=5)  # has a point: pre-label's work, not the detector's

    job = job_wait(suggestions_detect_request(project=project, actor=manager), 60)
    assert job.status == JobStatus.SUCCEEDED, job.message
    job.refresh_from_db()
    assert (job.done, job.total, job.result["suggested"]) == (2, 2, 4) and job.errors == []
    assert Suggestion.objects.filter(image__in=frames, state=SuggestionState.PENDING).count() == 4
    assert not Suggestion.objects.filter(image=pointed).exists()

    target = suggestion_accept(suggestion=Suggestion.objects.filter(image=frames[0]).first(), actor=annotator)
    generation = Job.objects.filter(image=frames[0], kind=JobKind.GENERATE).latest("id")
    assert job_wait(generation, 60).status == JobStatus.SUCCEEDED
    mask = Mask.objects.get(target=target)
    assert mask.state == MaskState.PREDICTED and mask.area > 0
