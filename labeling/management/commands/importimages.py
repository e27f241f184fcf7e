"""manage.py importimages DIR --project P: upload every image file under DIR (a multi-page TIFF as one image per
page), with a progress bar."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from labeling.management.operator import OperatorCommand
from labeling.models import Project
from labeling.services.images import images_upload

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class Command(OperatorCommand):
    help = "Import the images under a server-side folder into a project (each file validated on its own)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")
        parser.add_argument("--project", required=True, type=int, help="project id")
        parser.add_argument("--split", default=None, choices=["train", "val", "test"])
        parser.add_argument("--user", default=None, help="user recorded as uploader (default: the project's creator)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        folder = Path(str(options["folder"]))
        if not folder.is_dir():
            raise CommandError(f"{folder}: not a directory")
        try:
            project = Project.objects.get(pk=options["project"])
        except Project.DoesNotExist as exc:
            raise CommandError(f"No project with id {options['project']}") from exc
        actor = project.created_by
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}")
        files = image_files(folder)
        if not files:
            raise CommandError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        created, failed = 0, []
        for path in tqdm(files, desc="importing", unit="file", disable=bool(options["no_progress"])):
            try:
                data = path.read_bytes()
            except OSError as exc:
                failed.append(f"{path}: cannot read ({exc.strerror or exc})")
                continue
            # A multi-page TIFF lands as one image per page, in page order (name_p0001.tif, ...).
            images, errors = images_upload(
                project=project, files=[(path.name, data)], actor=actor, split=options["split"]
            )
            created += len(images)
            failed.extend(f"{path}: {error['message']}" for error in errors)
        for line in failed:
            self.stderr.write(line)
        summary = (
            f"Imported {created} of {created + len(failed)} images into project {project.pk}; {len(failed)} failed."
        )
        self.stdout.write(self.style.SUCCESS(summary) if not failed else self.style.WARNING(summary))
