"""Django project package; importing the Celery app here binds @shared_task to it."""

from webapp.celery import app as celery_app

__all__ = ("celery_app",)
