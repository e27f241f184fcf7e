"""job_wait on PostgreSQL: a job that finishes (or is cancelled) wakes its waiter by NOTIFY when it commits."""

import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction

from labeling.choices import JobStatus, Role
from labeling.models import Job
from labeling.services import jobs
from labeling.services.jobs import job_cancel, job_finish
from tests.factories import JobFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _later(delay_s: float, action) -> threading.Thread:
    """Run `action` on another thread (its own database connection) after `delay_s`."""

    def run() -> None:
        time.sleep(delay_s)
        try:
            action()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _listening() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_listening_channels()")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def no_recheck(monkeypatch):
    """Only a notification can end a wait early: the periodic re-read would come after the whole timeout."""
    monkeypatch.setattr(jobs, "NOTIFY_RECHECK_S", 60.0)


def test_finish_wakes_the_waiter(no_recheck):
    job = JobFactory()
    thread = _later(0.3, lambda: job_finish(job=Job.objects.get(pk=job.pk), result={"stored": 2}))
    started = time.monotonic()
    waited = jobs.job_wait(job, 20)
    elapsed = time.monotonic() - started
    thread.join()
    assert waited.status == JobStatus.SUCCEEDED and waited.result == {"stored": 2}
    assert 0.25 <= elapsed < 10, elapsed  # the 20 s timeout had it not been woken; generous for a loaded CI
    assert _listening() == []


def test_cancel_wakes_the_waiter(no_recheck):
    job, user = JobFactory(), UserFactory()
    MembershipFactory(project=job.project, user=user, role=Role.MANAGER)
    thread = _later(0.3, lambda: job_cancel(job=Job.objects.get(pk=job.pk), actor=user))
    started = time.monotonic()
    waited = jobs.job_wait(job, 20)
    thread.join()
    assert waited.status == JobStatus.CANCELLED and time.monotonic() - started < 10


def test_timeout_returns_the_unfinished_job_and_stops_listening():
    job = JobFactory()
    started = time.monotonic()
    waited = jobs.job_wait(job, 0.5)
    assert waited.status == JobStatus.QUEUED and 0.5 <= time.monotonic() - started < 5
    assert _listening() == []


def test_inside_a_transaction_it_polls():
    # LISTEN inside a transaction takes effect only at its commit: there the wait reads the row instead
    job = JobFactory()
    thread = _later(0.3, lambda: job_finish(job=Job.objects.get(pk=job.pk)))
    with transaction.atomic():
        waited = jobs.job_wait(job, 20)
        assert _listening() == []
    thread.join()
    assert waited.status == JobStatus.SUCCEEDED


def test_behind_a_transaction_pooler_it_polls(monkeypatch):
    # PgBouncer in transaction mode hands each statement any server session: LISTEN there would go astray
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    job = JobFactory()
    thread = _later(0.3, lambda: job_finish(job=Job.objects.get(pk=job.pk)))
    listened = []
    monkeypatch.setattr(jobs, "_job_wait_notified", lambda *a: listened.append(a))
    waited = jobs.job_wait(job, 20)
    thread.join()
    assert waited.status == JobStatus.SUCCEEDED and listened == []


def test_a_dropped_connection_raises_djangos_error(no_recheck):
    # e.g. PostgreSQL restarting during the wait: the same error as any query's, so it is handled the same way
    job = JobFactory()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def terminate() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    thread = _later(0.3, terminate)
    with pytest.raises(OperationalError):
        jobs.job_wait(job, 20)
    thread.join()
    connection.close()
