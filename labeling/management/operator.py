"""The shell acts with the operator's authority: role checks pass, the named user is who the audit log records."""

from typing import Any

from django.core.management.base import BaseCommand

from labeling.permissions import operator


class OperatorCommand(BaseCommand):
    """A command that writes through the services as the operator (whoever runs manage.py holds the database)."""

    def execute(self, *args: Any, **options: Any) -> Any:
        with operator():
            return super().execute(*args, **options)
