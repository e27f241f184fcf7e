"""App config; ready() registers the system checks and wires no signals (domain logic lives in services)."""

from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from labeling import checks  # noqa: F401 - registers the system checks
