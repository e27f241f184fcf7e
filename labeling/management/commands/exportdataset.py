"""manage.py exportdataset --project P [--out FILE]: write the project's dataset zip as an export Job."""

import shutil
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from labeling.choices import JobStatus
from labeling.exceptions import ApplicationError
from labeling.management.commands.importdataset import project_and_actor, run_with_progress
from labeling.management.operator import OperatorCommand
from labeling.services.datasets import dataset_export, dataset_export_request, export_file
from labeling.services.datasets.exports import FORMATS


class Command(OperatorCommand):
    help = (
        "Export a project (or its confirmed images, or one split) as a zip: SIRST tree (images/, masks/, points/, "
        "splits/), COCO instance segmentation, 16-bit instance PNGs and a manifest. Runs as an export Job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, type=int, help="project id")
        parser.add_argument("--out", default=None, help="also copy the zip here")
        parser.add_argument("--formats", nargs="+", choices=FORMATS, default=None)
        parser.add_argument("--confirmed-only", action="store_true", help="only confirmed images and masks")
        parser.add_argument("--split", default=None, choices=["train", "val", "test"])
        parser.add_argument("--user", default=None, help="user recorded as exporter (default: the project's creator)")
        parser.add_argument("--background", action="store_true", help="queue the job for a worker and return")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        project, actor = project_and_actor(options)
        try:
            job = dataset_export_request(
                project=project,
                actor=actor,
                formats=options["formats"],
                confirmed_only=bool(options["confirmed_only"]),
                split=options["split"],
                enqueue=bool(options["background"]),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if options["background"]:
            self.stdout.write(f"Queued export job {job.pk}.")
            return
        job = run_with_progress(job, dataset_export, bool(options["no_progress"]))
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Export job {job.pk} {job.status}: {job.message}")
        path = export_file(job, actor=actor)
        if options["out"]:
            shutil.copyfile(path, Path(str(options["out"])))
            path = Path(str(options["out"]))
        self.stdout.write(self.style.SUCCESS(f"Export job {job.pk}: {job.message} -> {path}"))
