"""manage.py seeddemo: the demo user and project of ./scripts/run (idempotent)."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from labeling.exceptions import ApplicationError
from labeling.models import Project
from labeling.services.images import image_create
from labeling.services.projects import project_create

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo" / "sirst" / "images"
DEMO_PROJECT = "Demo: SIRST frames"


class Command(BaseCommand):
    help = "Create the demo login and a demo project with a few sample IR frames."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")

    def handle(self, *args: object, **options: str) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(username=options["username"]).first()
        if user is None:
            user = user_model.objects.create_superuser(options["username"], password=options["password"])
        project = Project.objects.filter(name=DEMO_PROJECT, memberships__user=user).first()
        if project is None:
            project = project_create(name=DEMO_PROJECT, description="Six SIRST v1 frames to try the tool.", actor=user)
        added = 0
        for path in sorted(DEMO_DIR.glob("*.png")):
            try:
                image_create(project=project, file_name=path.name, data=path.read_bytes(), actor=user)
                added += 1
            except ApplicationError:
                pass  # already there (duplicate content): the command is idempotent
        login = f"{options['username']} / {options['password']}"
        self.stdout.write(self.style.SUCCESS(f"Demo project {project.pk} ({added} new images). Log in as {login}"))
