"""Jobs: rows that long work (generation, training, import, export) reports its status and progress into."""

import logging
import time
from typing import Any

from celery import current_app
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from labeling.choices import JOB_FINISHED, JobKind, JobStatus
from labeling.exceptions import ApplicationError, ConflictError
from labeling.job_kinds import job_spec
from labeling.models import Image, Job, Project
from labeling.permissions import MANAGE, require_role
from labeling.services.audit import audit_log

MAX_ERRORS = 200  # a job keeps its first errors only: enough to act on, bounded in size
BROKER_DOWN = (
    "{work} is unavailable: the task queue cannot be reached, so this job was not started. "
    "What you saved is kept; ask again once the queue is back."
)

logger = logging.getLogger(__name__)


def job_enqueue(job: Job) -> None:
    """Send the job's task by name (labeling.job_kinds routes it to its queue). Call it from transaction.on_commit."""
    job_send(job, job_spec(job.kind).task, [job.pk])


def job_send(job: Job, task_name: str, args: list) -> bool:
    """Send one task message for `job`. When the broker is down (Celery's publish retries give up within about a
    second), the job is failed with a message saying so instead of the request failing: the caller's data is
    already committed, and nothing would ever run a job whose message was never sent."""
    try:
        current_app.send_task(task_name, args=args)
    except (BrokerUnavailable, OSError) as exc:
        logger.warning("job %s: task %s not sent, broker unavailable: %s", job.pk, task_name, exc)
        work = job_spec(job.kind).work or JobKind(job.kind).label
        job_finish(job=job, status=JobStatus.FAILED, message=BROKER_DOWN.format(work=work))
        return False
    return True


def job_enqueue_chunks(job: Job, chunks: int) -> None:
    """Send a chunked job's messages (one per chunk) once the caller's transaction commits; a broker that is down
    fails the job once and the chunks already sent stop at its status."""

    def send() -> None:
        for chunk in range(chunks):
            if not job_send(job, job_spec(job.kind).task, [job.pk, chunk]):
                return

    transaction.on_commit(send)


@transaction.atomic
def job_create(
    *,
    project: Project,
    kind: str,
    actor: Any,
    payload: dict | None = None,
    total: int = 0,
    message: str = "",
    image: Image | None = None,
) -> Job:
    if kind not in JobKind.values:
        raise ApplicationError(f"Unknown job kind {kind!r}.", extra={"kind": kind})
    job = Job.objects.create(
        project=project,
        kind=kind,
        image=image,
        payload=payload or {},
        total=total,
        message=message,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if kind not in (JobKind.GENERATE, JobKind.SCORE):  # one per click / per frame: audited by what they do
        audit_log(actor=actor, project=project, action="job.create", obj=job, data={"kind": kind})
    return job


@transaction.atomic
def job_update_progress(
    *,
    job: Job,
    done: int | None = None,
    total: int | None = None,
    message: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Job:
    """Progress from a worker: a queued job becomes running. A cancelled or finished job is returned unchanged,
    so the worker can see `job.status` and stop."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in JOB_FINISHED:
        return job
    if job.status == JobStatus.QUEUED:
        job.status, job.started_at = JobStatus.RUNNING, timezone.now()
    if total is not None:
        job.total = max(0, total)
    if done is not None:
        job.done = max(0, done)
    if message is not None:
        job.message = message
    if errors:
        job.errors = (job.errors + list(errors))[:MAX_ERRORS]
    job.progress = min(100, round(100 * job.done / job.total)) if job.total else job.progress
    job.save()
    return job


def job_channel(job_id: int) -> str:
    """The PostgreSQL NOTIFY channel that says "job `job_id` has finished" (see job_wait)."""
    return f"job_{int(job_id)}"


def _notify_finished(job: Job) -> None:
    # Delivered when the transaction commits, so a waiter that wakes up reads the finished row; one channel per
    # job, so only that job's waiters wake. Other databases (SQLite on a laptop) poll instead.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [job_channel(job.pk)])


@transaction.atomic
def job_finish(
    *, job: Job, status: str = JobStatus.SUCCEEDED, message: str | None = None, result: dict | None = None
) -> Job:
    """Mark the job succeeded or failed (a cancelled job stays cancelled)."""
    if status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        raise ValueError(f"a job finishes as succeeded or failed, not {status!r}")
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in JOB_FINISHED:
        return job
    job.status, job.finished_at = status, timezone.now()
    job.started_at = job.started_at or job.finished_at
    if status == JobStatus.SUCCEEDED:
        job.progress = 100
        job.done = max(job.done, job.total)
    if message is not None:
        job.message = message
    if result is not None:
        job.result = result
    job.save()
    audit_log(actor=None, project=job.project_id, action=f"job.{status}", obj=job, data={"message": job.message})
    _notify_finished(job)
    return job


@transaction.atomic
def job_cancel(*, job: Job, actor: Any) -> Job:
    require_role(actor, job.project, MANAGE, "cancel jobs")
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status in JOB_FINISHED:
        raise ConflictError(f"Job {job.pk} has already finished ({job.status}).", extra={"status": job.status})
    job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
    job.message = f"Cancelled by {actor}."
    job.save()
    audit_log(actor=actor, project=job.project_id, action="job.cancel", obj=job)
    _notify_finished(job)
    return job


_JOB_FIELDS = ["status", "progress", "message", "result", "finished_at", "started_at"]
# With LISTEN, the row is still re-read this often: a finish that sends no notification costs at most this much.
NOTIFY_RECHECK_S = 0.25


def job_wait(job: Job, timeout_s: float) -> Job:
    """Wait until the job finishes or `timeout_s` passes; the caller never blocks for long. On PostgreSQL the
    worker's commit wakes the waiter (LISTEN/NOTIFY, sent by job_finish): under load, fifty waiting requests
    polling the job row every few ms cost more CPU than the clicks themselves."""
    if _can_listen():
        return _job_wait_notified(job, timeout_s)
    return _job_wait_polling(job, timeout_s)


def _can_listen() -> bool:
    # LISTEN belongs to the session: not inside a transaction (it would start only at commit), nor behind a
    # transaction-mode pooler such as PgBouncer's, which Django setups mark with DISABLE_SERVER_SIDE_CURSORS.
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    )


def _job_wait_notified(job: Job, timeout_s: float) -> Job:
    deadline = time.monotonic() + max(0.0, timeout_s)
    channel = job_channel(job.pk)
    with connection.cursor() as cursor:
        cursor.execute(f'LISTEN "{channel}"')  # before the first read, so a finish in between is not missed
    try:
        while True:
            job.refresh_from_db(fields=_JOB_FIELDS)
            remaining = deadline - time.monotonic()
            if job.status in JOB_FINISHED or remaining <= 0:
                return job
            with connection.wrap_database_errors:  # a dropped connection raises Django's error, as a query would
                for _ in connection.connection.notifies(timeout=min(remaining, NOTIFY_RECHECK_S), stop_after=1):
                    pass
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'UNLISTEN "{channel}"')
        except DatabaseError:
            pass  # a broken connection listens to nothing; the error that broke it is the one to report


def _job_wait_polling(job: Job, timeout_s: float) -> Job:
    started = time.monotonic()
    deadline = started + max(0.0, timeout_s)
    while True:
        job.refresh_from_db(fields=_JOB_FIELDS)
        now = time.monotonic()
        if job.status in JOB_FINISHED or now >= deadline:
            return job
        # a click's job takes tens of ms: look often at first (a PK read costs ~0.3 ms), then back off
        time.sleep(0.003 if now - started < 0.25 else 0.02)
