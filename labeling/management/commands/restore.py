"""manage.py restore --from DIR: a backup into this (empty) instance; refuses a database that holds data."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from labeling.services.backups import BackupError, backup_restore, backup_verify


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` into this instance's database and MEDIA_ROOT, which must both "
        "be empty. Every file is checked against the manifest's SHA-256 first and the row counts afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, help="the backup directory")
        parser.add_argument("--verify-only", action="store_true", help="only check the backup's files and hashes")
        parser.add_argument("--json", action="store_true", help="print the summary (row counts per model) as JSON")

    def handle(self, *args: object, **options: object) -> None:
        source = Path(str(options["source"]))
        try:
            if options["verify_only"]:
                manifest = backup_verify(source=source)
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{source}: {len(manifest['media'])} media files and the database match the manifest"
                    )
                )
                return
            summary = backup_restore(source=source)
        except OperationalError as exc:
            raise CommandError(f"Cannot use the database: {exc}".strip()) from exc
        except BackupError as exc:
            extra = f" {json.dumps(exc.extra)}" if exc.extra else ""
            raise CommandError(exc.message + extra) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary, sort_keys=True))
            return
        rows = sum(summary["counts"].values())
        self.stdout.write(
            self.style.SUCCESS(f"Restored {source} ({summary['method']}): {rows} rows, {summary['media_files']} files")
        )
