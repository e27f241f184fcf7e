"""One table of job kinds: every kind and every task of the app has its row, and the tasks and Celery's routing
take their name, queue and limits from it."""

from celery import current_app
from django.conf import settings

import labeling.tasks  # noqa: F401 - registers the tasks, as the worker's autodiscovery does
from labeling.choices import JobKind
from labeling.job_kinds import JOBS, PERIODIC, QUEUES, job_spec, route_task, task_spec


def test_every_kind_and_every_task_has_one_row():
    assert set(JOBS) == set(JobKind.values)
    ours = {name for name in current_app.tasks if name.startswith("labeling.tasks.")}
    rows = {spec.task for spec in (*JOBS.values(), *PERIODIC.values())}
    assert ours == rows and len(rows) == len(JOBS) + len(PERIODIC)


def test_tasks_and_routes_follow_their_row():
    route = current_app.amqp.router.route
    for spec in (*JOBS.values(), *PERIODIC.values()):
        task = current_app.tasks[spec.task]
        assert spec.queue in QUEUES and route({}, spec.task)["queue"].name == spec.queue
        assert (task.soft_time_limit, task.time_limit, task.max_retries) == (
            spec.soft_time_limit,
            spec.time_limit,
            spec.max_retries,
        )
        assert task.acks_late and spec.soft_time_limit < spec.time_limit
    assert set(QUEUES) == {"interactive", "loop", "train", "batch"} and settings.CELERY_TASK_DEFAULT_QUEUE in QUEUES
    assert set(QUEUES) == set(settings.QUEUE_VISIBILITY_TIMEOUT_S)  # every queue has its visibility timeout
    assert job_spec("generate").queue == "interactive" and task_spec("labeling.tasks.model_train").queue == "train"
    assert (
        route_task("someone.elses.task") is None
        and route({}, "someone.elses.task")["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE
    )
