"""manage.py importdataset PATH --project P: import a server-side folder or zip (SIRST, COCO, points) as a Job."""

import threading
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from labeling.choices import JobStatus
from labeling.exceptions import ApplicationError
from labeling.management.operator import OperatorCommand
from labeling.models import Job, Project
from labeling.services.datasets import dataset_import, dataset_import_folder_request, dataset_import_request


def project_and_actor(options: dict) -> tuple[Project, object]:
    try:
        project = Project.objects.get(pk=options["project"])
    except Project.DoesNotExist as exc:
        raise CommandError(f"No project with id {options['project']}") from exc
    actor = project.created_by
    if options.get("user"):
        actor = get_user_model().objects.filter(username=options["user"]).first()
        if actor is None:
            raise CommandError(f"No user named {options['user']!r}")
    return project, actor


def run_with_progress(job: Job, service: object, quiet: bool) -> Job:
    """Run the job's service here, showing the Job's own progress rows as a tqdm bar (read by a thread)."""
    bar = tqdm(total=0, desc=job.kind, unit="img", disable=quiet)
    stop = threading.Event()

    def watch() -> None:
        from django.db import connection

        try:
            while not stop.wait(0.5):
                row = Job.objects.filter(pk=job.pk).values("done", "total").first()
                if row:
                    bar.total = row["total"]
                    bar.n = row["done"]
                    bar.refresh()
        finally:
            connection.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        service(job_id=job.pk)
    finally:
        stop.set()
        watcher.join()
        job.refresh_from_db()
        bar.n = job.done
        bar.close()
    return job


class Command(OperatorCommand):
    help = (
        "Import a dataset from a server-side folder (or zip): plain images, the SIRST/NUDT-SIRST/IRSTD-1k layout "
        "(images/, masks/, split lists), point JSON or point PNGs, COCO JSON. Runs as an import Job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a folder, or a .zip file")
        parser.add_argument("--project", required=True, type=int, help="project id")
        parser.add_argument("--confirm", action="store_true", help="imported masks become confirmed labels")
        parser.add_argument(
            "--gold", action="store_true", help="gold frames: labels kept aside to score annotators, frames unlabelled"
        )
        parser.add_argument("--split", default=None, choices=["train", "val", "test"], help="for unlisted images")
        parser.add_argument("--user", default=None, help="user recorded as importer (default: the project's creator)")
        parser.add_argument("--background", action="store_true", help="queue the job for a worker and return")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        project, actor = project_and_actor(options)
        path = Path(str(options["path"])).resolve()
        common = {
            "project": project,
            "actor": actor,
            "confirm": bool(options["confirm"]),
            "gold": bool(options["gold"]),
            "split": options["split"],
            "enqueue": bool(options["background"]),
        }
        try:
            if path.is_file():  # a zip on the server: copied under MEDIA_ROOT like an upload
                with open(path, "rb") as handle:
                    job = dataset_import_request(upload=File(handle, name=path.name), **common)
            else:
                job = dataset_import_folder_request(folder=path, **common)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if options["background"]:
            self.stdout.write(f"Queued import job {job.pk}.")
            return
        job = run_with_progress(job, dataset_import, bool(options["no_progress"]))
        for error in job.errors:
            self.stderr.write(error.get("message", ""))
        counts = job.result.get("counts", {})
        summary = f"Import job {job.pk} {job.status}: {job.message}; counts {counts}"
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary) if not counts.get("skipped") else self.style.WARNING(summary))
