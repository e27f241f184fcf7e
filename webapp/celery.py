"""The Celery application: configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.base")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _configure_worker_process(**_: object) -> None:
    # Torch is imported only inside the forked child (never in the parent: no fork-after-torch
    # deadlocks), with one thread setting per process.
    from django.conf import settings

    from labeling.ml_adapter import configure_torch

    configure_torch(settings.EDGSP_TORCH_THREADS)
