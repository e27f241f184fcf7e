"""manage.py backup --out DIR [--method auto|pg_dump|dumpdata]: the database and MEDIA_ROOT, with SHA-256s."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError

from labeling.services.backups import DB_FILES, BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the whole instance into a new directory: the database (pg_dump custom format on PostgreSQL, "
        "dumpdata JSON otherwise) and every file under MEDIA_ROOT, with a manifest of SHA-256s and row counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="a new (or empty) directory to write the backup into")
        parser.add_argument("--method", default="auto", choices=["auto", *DB_FILES])

    def handle(self, *args: object, **options: object) -> None:
        try:
            manifest = backup_create(out=Path(str(options["out"])), method=str(options["method"]))
        except OperationalError as exc:
            raise CommandError(f"Cannot use the database: {exc}".strip()) from exc
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        for name in manifest["missing_files"]:
            self.stderr.write(self.style.WARNING(f"warning: {name} is named in the database but missing in media"))
        for name in manifest["altered_originals"]:
            self.stderr.write(self.style.WARNING(f"warning: {name} no longer matches its content hash"))
        rows = sum(manifest["counts"].values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup ({manifest['method']}) -> {options['out']}: {rows} rows, {len(manifest['media'])} media "
                f"files ({manifest['media_bytes']} bytes)"
            )
        )
