"""The Celery application: configured from Django settings under the CELERY_ namespace."""

import os
from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.base")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def _worker_broker_options(conf: Any, **_: object) -> None:
    # A worker waits for Redis rather than time out: a socket timeout during an ack leaves kombu's QoS counting the
    # message as unacked, and with prefetch 1 the worker never consumes again. Web processes keep the timeout, so a
    # hung broker costs a request seconds, not a hang (webapp.settings.base REDIS_TRANSPORT_OPTIONS).
    options = dict(conf.broker_transport_options or {})
    options.pop("socket_timeout", None)
    conf.broker_transport_options = options


@worker_process_init.connect
def _configure_worker_process(**_: object) -> None:
    # Torch is imported only inside the forked child (never in the parent: no fork-after-torch
    # deadlocks), with one thread setting per process.
    from django.conf import settings

    from labeling.ml_adapter import configure_torch

    configure_torch(settings.EDGSP_TORCH_THREADS)
