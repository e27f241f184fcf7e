"""Each worker's broker visibility timeout comes from the queues it consumes (webapp.celery): longer than any of
their tasks' hard time limits, so Redis never hands a live task to a second worker, and as short as that allows."""

from celery import current_app
from django.conf import settings

import labeling.tasks  # noqa: F401 - registers the tasks (the worker's autodiscovery)
from webapp.celery import worker_transport_options

TIMEOUTS = {"interactive": 300, "loop": 900, "train": 4200, "batch": 11400}
BASE = {"visibility_timeout": 4000, "unacked_restore_interval": 10}


def test_a_worker_takes_the_longest_timeout_of_its_queues_and_unacked_keys_of_its_own():
    interactive = worker_transport_options(BASE, ["interactive"], TIMEOUTS)
    both = worker_transport_options(BASE, ["interactive", "batch"], TIMEOUTS)
    assert (interactive["visibility_timeout"], both["visibility_timeout"]) == (300, 11400)
    assert worker_transport_options(BASE, ["elsewhere"], TIMEOUTS)["visibility_timeout"] == 4000
    assert interactive["unacked_restore_interval"] == 10  # the other options are kept
    # Kombu restores every entry of the set older than the restoring worker's timeout: one set per queue group.
    assert interactive["unacked_key"] == "unacked:interactive" and both["unacked_key"] == "unacked:batch-interactive"
    assert both == worker_transport_options(BASE, ["batch", "interactive"], TIMEOUTS)
    assert interactive["unacked_index_key"] == "unacked_index:interactive"


def test_every_queue_outlasts_its_tasks_hard_time_limits():
    route = current_app.amqp.router.route  # as Celery routes a message (settings -> labeling.job_kinds)
    ours = {name: task for name, task in current_app.tasks.items() if name.startswith("labeling.tasks.")}
    assert "labeling.tasks.dataset_export" in ours and "labeling.tasks.jobs_sweep" in ours
    for name, task in ours.items():
        queue = route({}, name)["queue"].name
        limit = task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        assert settings.QUEUE_VISIBILITY_TIMEOUT_S[queue] > limit, (name, queue, limit)
