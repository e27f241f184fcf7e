"""The sweep re-sends only the chunks a lost chunked job has not finished (pre-label and detection alike)."""

import pytest

from labeling.choices import JobKind, JobStatus
from labeling.services.job_sweep import _missing_work
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", [JobKind.PRELABEL, JobKind.DETECT])
def test_a_lost_chunked_job_resends_only_its_unfinished_chunks(kind):
    payload = {"image_ids": [1, 2, 3, 4, 5], "chunk_size": 2, "chunks": 3}
    job = JobFactory(kind=kind, status=JobStatus.RUNNING, payload=payload, result={"chunk_done": {"0": 2, "1": 1}})
    assert [args for _, args in _missing_work(job)] == [[job.pk, 1], [job.pk, 2]]


def test_a_lost_single_task_job_resends_its_one_task():
    job = JobFactory(kind=JobKind.EXPORT, status=JobStatus.RUNNING, payload={})
    assert [args for _, args in _missing_work(job)] == [[job.pk]]
