"""Backup and restore of a whole instance: the database (pg_dump or dumpdata) plus the media files, with SHA-256s.

A backup is a directory: `manifest.json` (method, row counts per model, every media file's size and SHA-256),
`SHA256SUMS` (the same hashes, for `sha256sum -c`), the database (`database.dump`, pg_dump's custom format, or
`database.irlabel-jsonl`, dumpdata as JSON Lines with exact times) and `media/` (MEDIA_ROOT as it was:
originals, checkpoints, exports).

PostgreSQL is dumped with pg_dump because it is exact and consistent: one snapshot for every table (shared with
the row counts and the list of referenced files, through an exported snapshot), sequences, constraints and
indexes included, and no Python in the loop. dumpdata is the portable fallback: it is what the embedded SQLite
instance uses, and it moves data between SQLite and PostgreSQL. A restore goes only into an empty database and
an empty media directory, and checks every hash before it writes anything and every count after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from labeling.exceptions import ApplicationError
from labeling.services import backup_jsonl

FORMAT = "irlabel-backup"
FORMAT_VERSION = 1
PG_DUMP, DUMPDATA = "pg_dump", "dumpdata"
DB_FILES = {PG_DUMP: "database.dump", DUMPDATA: f"database.{backup_jsonl.FORMAT}"}
# Rebuilt by `migrate` on any instance, so a dumpdata backup leaves them out and a restore does not compare them.
DERIVED = {"contenttypes.ContentType", "auth.Permission"}
_BLOCK = 1024 * 1024
serializers.register_serializer(backup_jsonl.FORMAT, "labeling.services.backup_jsonl")


class BackupError(ApplicationError):
    """A backup or restore that cannot go on; the message says why and what to do."""


def _models() -> list[Any]:
    return sorted(
        (m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy),
        key=lambda m: m._meta.label,
    )


def _sha256_copy(src: Path, dst: Path | None) -> tuple[str, int]:
    """SHA-256 and size of `src`, copying it to `dst` on the way (written to a temporary name, then renamed)."""
    digest, size = hashlib.sha256(), 0
    partial = dst.with_name(dst.name + ".part") if dst is not None else None
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as reader, open(partial or os.devnull, "wb") as writer:
        while block := reader.read(_BLOCK):
            digest.update(block)
            size += len(block)
            writer.write(block)
    if partial is not None:
        os.replace(partial, dst)
    return digest.hexdigest(), size


def _media_files(root: Path) -> Iterator[Path]:
    """Regular files under MEDIA_ROOT, sorted; temporaries (hidden folders, `*.part`) and links are left out."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") for part in relative.parts)
        if path.is_file() and not path.is_symlink() and not hidden and not path.name.endswith(".part"):
            yield path


def _pg_env() -> dict[str, str]:
    db = connection.settings_dict
    env = {**os.environ, "PGDATABASE": db["NAME"], "PGUSER": db.get("USER") or "", "PGHOST": db.get("HOST") or ""}
    env.update({"PGPORT": str(db.get("PORT") or ""), "PGPASSWORD": db.get("PASSWORD") or ""})
    return {k: v for k, v in env.items() if v != ""}


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _choose(method: str) -> str:
    if method == "auto":
        return PG_DUMP if connection.vendor == "postgresql" and shutil.which("pg_dump") else DUMPDATA
    if method not in DB_FILES:
        raise BackupError(f"Unknown backup method {method!r}; one of auto, {PG_DUMP}, {DUMPDATA}.")
    if method == PG_DUMP and connection.vendor != "postgresql":
        raise BackupError(f"pg_dump backs up PostgreSQL only; this database is {connection.vendor}: use dumpdata.")
    return method


def _snapshot_facts(cursor: Any) -> dict[str, Any]:
    """Row counts per model and the media files the rows name, read in the dump's snapshot."""
    counts = {}
    for model in _models():
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
        counts[model._meta.label] = cursor.fetchone()[0]
    cursor.execute("SELECT file, content_hash FROM labeling_image ORDER BY id")
    images = {name: sha for name, sha in cursor.fetchall()}
    cursor.execute("SELECT checkpoint FROM labeling_modelversion WHERE checkpoint <> '' ORDER BY id")
    checkpoints = [name for (name,) in cursor.fetchall() if not os.path.isabs(name)]
    return {"counts": counts, "images": images, "checkpoints": checkpoints}


@contextmanager
def _pg_snapshot() -> Iterator[tuple[str, dict[str, Any]]]:
    """A REPEATABLE READ transaction on its own connection, exported so pg_dump sees exactly the same data."""
    import psycopg

    db = connection.settings_dict
    params = {"dbname": db["NAME"], "user": db.get("USER"), "password": db.get("PASSWORD"), "host": db.get("HOST")}
    params["port"] = db.get("PORT")
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # explicit: autocommit adds no BEGIN
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        with conn.cursor() as cursor:
            facts = _snapshot_facts(cursor)
        try:
            yield snapshot, facts  # pg_dump --snapshot runs while this transaction stays open
        finally:
            conn.execute("ROLLBACK")


def backup_create(*, out: Path, method: str = "auto") -> dict[str, Any]:
    """Write a backup of the database and MEDIA_ROOT into `out` (a new or empty directory); returns the manifest."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty directory; back up into a new one.")
    method = _choose(method)
    out.mkdir(parents=True, exist_ok=True)
    db_file = out / DB_FILES[method]
    if method == PG_DUMP:
        with _pg_snapshot() as (snapshot, facts):
            command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
            _run([*command, f"--file={db_file}"], _pg_env())
    else:
        outermost = not connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:  # one read snapshot for counts and dump
            if connection.vendor == "postgresql" and outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            facts = _snapshot_facts(cursor)
            call_command(
                "dumpdata",
                format=backup_jsonl.FORMAT,
                natural_foreign=True,
                exclude=sorted(DERIVED),
                output=str(db_file),
                verbosity=0,
            )
    media_root = Path(settings.MEDIA_ROOT)
    media = []
    for path in _media_files(media_root):
        relative = path.relative_to(media_root).as_posix()
        sha, size = _sha256_copy(path, out / "media" / relative)
        media.append({"path": relative, "size": size, "sha256": sha})
    hashes = {entry["path"]: entry["sha256"] for entry in media}
    missing = sorted(name for name in [*facts["images"], *facts["checkpoints"]] if name not in hashes)
    altered = sorted(name for name, sha in facts["images"].items() if name in hashes and hashes[name] != sha)
    db_sha, db_size = _sha256_copy(db_file, None)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "method": method,
        "vendor": connection.vendor,
        "database": {"file": db_file.name, "size": db_size, "sha256": db_sha},
        "counts": facts["counts"],
        "media": media,
        "media_bytes": sum(entry["size"] for entry in media),
        "missing_files": missing,  # named by a row but absent from MEDIA_ROOT when the backup ran
        "altered_originals": altered,  # an original whose bytes no longer match its content_hash
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    sums = [f"{db_sha}  {db_file.name}"] + [f"{e['sha256']}  media/{e['path']}" for e in media]
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return manifest


def _read_manifest(source: Path) -> dict[str, Any]:
    path = Path(source) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: not a readable backup manifest ({exc}).") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path}: not an {FORMAT} v{FORMAT_VERSION} manifest.")
    return manifest


def backup_verify(*, source: Path) -> dict[str, Any]:
    """Check every file of the backup against its manifest hash; BackupError names the first bad one."""
    source = Path(source)
    manifest = _read_manifest(source)
    entries = [(manifest["database"]["file"], manifest["database"]["sha256"], manifest["database"]["size"])]
    entries += [(f"media/{e['path']}", e["sha256"], e["size"]) for e in manifest["media"]]
    for name, sha, size in entries:
        path = source / name
        if ".." in Path(name).parts or not path.is_file():
            raise BackupError(f"The backup is incomplete: {name} is missing.")
        if _sha256_copy(path, None) != (sha, size):
            raise BackupError(f"The backup is damaged: {name} does not match its SHA-256 in the manifest.")
    return manifest


def instance_counts() -> dict[str, int]:
    """Rows per model of this instance's database (what a backup's manifest records)."""
    return {model._meta.label: model._base_manager.count() for model in _models()}


def _data_rows() -> dict[str, int]:
    existing = set(connection.introspection.table_names())
    found = {}
    for model in _models():
        if model._meta.label not in DERIVED and model._meta.db_table in existing and model._base_manager.exists():
            found[model._meta.label] = model._base_manager.count()
    return found


def _require_empty_target(media_root: Path) -> None:
    rows = _data_rows()
    if rows:
        listed = ", ".join(f"{label}: {n}" for label, n in sorted(rows.items())[:6])
        raise BackupError(
            f"Refusing to restore into a database that already holds data ({listed}). Restore into a new, empty "
            "database (createdb) and an empty media directory; nothing was changed.",
            extra={"rows": rows},
        )
    if media_root.exists() and any(media_root.iterdir()):
        raise BackupError(
            f"Refusing to restore into {media_root}: the media directory is not empty. Point DJANGO_MEDIA_ROOT at "
            "a new, empty directory; nothing was changed."
        )


def backup_restore(*, source: Path) -> dict[str, Any]:
    """Restore a backup into this instance, whose database and MEDIA_ROOT must be empty; returns the summary."""
    source = Path(source)
    manifest = backup_verify(source=source)
    media_root = Path(settings.MEDIA_ROOT)
    _require_empty_target(media_root)
    db_file = source / manifest["database"]["file"]
    if manifest["method"] == PG_DUMP:
        if connection.vendor != "postgresql" or not shutil.which("pg_restore"):
            raise BackupError("This backup is a pg_dump: restore it into PostgreSQL, with pg_restore installed.")
        connection.close()
        command = ["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists", "--single-transaction"]
        _run([*command, "--exit-on-error", f"--dbname={connection.settings_dict['NAME']}", str(db_file)], _pg_env())
        call_command("migrate", interactive=False, verbosity=0)  # a no-op unless the code is newer than the backup
    else:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("loaddata", str(db_file), verbosity=0)  # one transaction; resets PostgreSQL sequences
    media_root.mkdir(parents=True, exist_ok=True)
    for entry in manifest["media"]:
        sha, _ = _sha256_copy(source / "media" / entry["path"], media_root / entry["path"])
        if sha != entry["sha256"]:
            raise BackupError(f"media/{entry['path']} changed while it was restored; run the restore again.")
    counts = instance_counts()
    differ = {
        label: {"backup": n, "restored": counts.get(label)}
        for label, n in manifest["counts"].items()
        if label not in DERIVED and counts.get(label) != n
    }
    if differ:
        raise BackupError("The restored row counts differ from the backup's.", extra={"differ": differ})
    return {"method": manifest["method"], "counts": counts, "media_files": len(manifest["media"])}
