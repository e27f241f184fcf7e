"""manage.py createproject NAME --owner USER: a project with its first owner."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.services.projects import project_create


class Command(BaseCommand):
    help = "Create a labeling project owned by an existing user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="user name of the project's owner")
        parser.add_argument("--description", default="")

    def handle(self, *args: object, **options: str) -> None:
        try:
            owner = get_user_model().objects.get(username=options["owner"])
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user named {options['owner']!r}; create it first (createsuperuser).") from exc
        project = project_create(name=options["name"], description=options["description"], actor=owner)
        self.stdout.write(self.style.SUCCESS(f"Created project {project.pk}: {project.name} (owner {owner.username})"))
