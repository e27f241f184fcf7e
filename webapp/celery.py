"""The Celery application: configured from Django settings under the CELERY_ namespace."""

import os
from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.base")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def worker_transport_options(options: dict, queues: list[str], timeouts: dict[str, int]) -> dict:
    """A Redis worker's transport options for the queues it consumes: the longest visibility timeout among them,
    and unacked keys of its own. Kombu restores every entry of its unacked set older than its own timeout, so a
    worker with a short timeout (interactive) sharing the set would redeliver a live training task."""
    group = "-".join(sorted(set(queues)))
    return {
        **options,
        "visibility_timeout": max(timeouts.get(q, options.get("visibility_timeout", 3600)) for q in queues),
        "unacked_key": f"unacked:{group}",
        "unacked_index_key": f"unacked_index:{group}",
        "unacked_mutex_key": f"unacked_mutex:{group}",
    }


@celeryd_init.connect
def _worker_broker_options(conf: Any, options: dict | None = None, **_: object) -> None:
    # A worker waits for Redis rather than time out: a socket timeout during an ack leaves kombu's QoS counting the
    # message as unacked, and with prefetch 1 the worker never consumes again. Web processes keep the timeout, so a
    # hung broker costs a request seconds, not a hang (webapp.settings.base REDIS_TRANSPORT_OPTIONS).
    from django.conf import settings

    transport = dict(conf.broker_transport_options or {})
    transport.pop("socket_timeout", None)
    if str(conf.broker_url).startswith(("redis://", "rediss://", "unix://")):
        queues = (options or {}).get("queues") or [conf.task_default_queue]
        queues = queues.split(",") if isinstance(queues, str) else list(queues)
        transport = worker_transport_options(transport, queues, settings.QUEUE_VISIBILITY_TIMEOUT_S)
    conf.broker_transport_options = transport


@worker_process_init.connect
def _configure_worker_process(**_: object) -> None:
    # Torch is imported only inside the forked child (never in the parent: no fork-after-torch
    # deadlocks), with one thread setting per process.
    from django.conf import settings

    from labeling.ml_adapter import configure_torch

    configure_torch(settings.EDGSP_TORCH_THREADS)
