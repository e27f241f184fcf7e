"""Backup -> restore into a fresh instance (its own database and media dir, in a subprocess) -> same export."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from labeling.choices import MaskSource, MaskState, Role
from labeling.models import AuditLog, MaskRevision, Target
from labeling.services import image_confirm, mask_confirm, mask_replace, project_create
from labeling.services.backups import BackupError, backup_verify, instance_counts
from labeling.services.images import image_create
from labeling.services.masks import mask_store_prediction
from labeling.services.projects import membership_add
from tests.factories import ModelVersionFactory, UserFactory, gradient, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
CHECKPOINT = "models/backup-test/v1.pt"


def _square(h: int, w: int, x: int, y: int, r: int = 1) -> np.ndarray:
    out = np.zeros((h, w), bool)
    out[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1] = True
    return out


def _build() -> tuple[int, str]:
    """A project with 8- and 16-bit images, points, predicted/edited/confirmed masks, revisions, a model version
    with a checkpoint file and audit rows, all written by the services."""
    owner, annotator, reviewer = (UserFactory(username=n) for n in ("bk_owner", "bk_annotator", "bk_reviewer"))
    project = project_create(name="backup test", actor=owner, description="8 and 16 bit")
    membership_add(project=project, username=annotator.username, role=Role.ANNOTATOR, actor=owner)
    membership_add(project=project, username=reviewer.username, role=Role.REVIEWER, actor=owner)
    checkpoint = Path(settings.MEDIA_ROOT) / CHECKPOINT
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(hashlib.sha512(b"weights").digest() * 64)
    model = ModelVersionFactory(project=project, number=1, checkpoint=CHECKPOINT, metrics={"iou": 0.8125})
    frames = [gradient(32, 40, seed=1), gradient(32, 40, seed=2, dtype=np.uint16), gradient(24, 24, seed=3)]
    for index, pixels in enumerate(frames):
        image = image_create(project=project, file_name=f"frame {index}.png", data=png_bytes(pixels), actor=owner)
        h, w = image.height, image.width
        targets = [
            Target.objects.create(image=image, x=5.25 + 7 * k, y=6.5 + 3 * k, created_by=annotator) for k in range(3)
        ]
        for k, target in enumerate(targets):
            source = MaskSource.MODEL if k == 2 else MaskSource.COLDSTART
            for r in (1, 2):  # a second prediction keeps the first as a revision
                mask_store_prediction(
                    target=target,
                    raster=_square(h, w, round(target.x), round(target.y), r),
                    source=source,
                    model_version=model if k == 2 else None,
                    provenance={"generator": "coldstart", "clicks": [[target.x, target.y]]},
                    warnings=["fallback"] if k == 1 else [],
                )
        if index == 2:
            continue  # an image left with predicted masks only
        mask = mask_replace(target=targets[0], raster=_square(h, w, 5, 6, 0), version=2, actor=annotator)
        mask = mask_confirm(mask=mask, actor=reviewer)
        mask_replace(target=targets[0], raster=_square(h, w, 5, 7, 1), version=mask.version, actor=reviewer)
        if index == 0:
            image_confirm(image=image, actor=reviewer)
    return project.pk, owner.username


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _facts() -> dict:
    audit = [
        {**row, "created_at": row["created_at"].isoformat()}
        for row in AuditLog.objects.order_by("id").values(
            "id", "project_id", "actor_id", "action", "object_type", "object_id", "data", "created_at"
        )
    ]
    revisions = list(MaskRevision.objects.order_by("id").values_list("mask_id", "version", "rle", "state"))
    return {"counts": instance_counts(), "audit": audit, "revisions": [list(r) for r in revisions]}


PROBE = """
import json, sys, django
django.setup()
from django.core.management import CommandError, call_command
from tests.system.safety.test_backup_restore import _facts
facts = _facts()
call_command("exportdataset", project=int(sys.argv[1]), out=sys.argv[2], user=sys.argv[3], no_progress=True)
print(json.dumps(facts))
"""


def _instance_env(db_name: str, media: Path, var: Path) -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db_name}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webapp.settings.base",  # the app's own default settings, not the test ones
        "DATABASE_URL": url,
        "DJANGO_MEDIA_ROOT": str(media),
        "DJANGO_VAR_DIR": str(var),
        "PYTHONPATH": str(ROOT),
    }


def _restore(env: dict[str, str], backup: Path, *args: str) -> subprocess.CompletedProcess:
    """scripts/restore, as an operator runs it (manage.py restore under the venv's python)."""
    command = [str(ROOT / "scripts" / "restore"), str(backup), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def fresh_database():
    """A new, empty PostgreSQL database named after the test database (so parallel runs do not collide)."""
    db = connection.settings_dict
    name = f"{db['NAME']}_restore"
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": "postgres", "autocommit": True}

    def drop() -> None:
        with psycopg.connect(**params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with psycopg.connect(**params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    drop()


def _export(zip_path: Path) -> tuple[dict, dict, dict[str, bytes]]:
    with zipfile.ZipFile(zip_path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(files["manifest.json"])
    sums = dict(line.split("  ", 1)[::-1] for line in files["SHA256SUMS"].decode().splitlines())
    return manifest, sums, files


@pytest.mark.parametrize("method", ["pg_dump", "dumpdata"])
def test_backup_restores_into_a_fresh_instance_with_the_same_export(method, tmp_path, fresh_database):
    project_id, exporter = _build()
    assert MaskRevision.objects.filter(state=MaskState.CONFIRMED).count() == 2  # confirmed content kept
    before = _facts()
    backup = tmp_path / "backup"
    call_command("backup", out=str(backup), method=method)
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["method"] == method and manifest["counts"] == before["counts"]
    assert manifest["missing_files"] == [] and manifest["altered_originals"] == []
    assert {e["path"] for e in manifest["media"]} == set(_tree(Path(settings.MEDIA_ROOT)))

    media, var = tmp_path / "restored-media", tmp_path / "restored-var"
    env = _instance_env(fresh_database, media, var)
    if method == "pg_dump":  # a media dir that is not empty is refused before anything is written
        media.mkdir()
        (media / "someone-elses-file").write_bytes(b"x")
        refused = _restore(env, backup)
        assert refused.returncode != 0 and "the media directory is not empty" in refused.stderr
        assert _public_tables(fresh_database) == 0
        (media / "someone-elses-file").unlink()
    restored = _restore(env, backup, "--json")
    assert restored.returncode == 0, restored.stderr
    summary = json.loads(restored.stdout.strip().splitlines()[-1])
    assert summary["method"] == method
    assert _tree(media) == _tree(Path(settings.MEDIA_ROOT))  # originals and the checkpoint, byte for byte

    ours, theirs = tmp_path / "original.zip", tmp_path / "restored.zip"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(project_id), str(theirs), exporter],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    after = json.loads(probe.stdout.strip().splitlines()[-1])
    assert after["counts"] == before["counts"] == summary["counts"]  # every model, row for row
    assert after["audit"] == before["audit"]  # ids, actors, actions, data and timestamps preserved
    assert after["revisions"] == before["revisions"]

    call_command("exportdataset", project=project_id, out=str(ours), user=exporter, no_progress=True)
    mine, my_sums, my_files = _export(ours)
    yours, your_sums, your_files = _export(theirs)
    # Every exported file byte for byte, except manifest.json, whose "job" is the export job's own id: pg_dump
    # restores the id sequence exactly, loaddata restarts it after the highest restored id (deleted rows differ).
    my_sums.pop("manifest.json"), your_sums.pop("manifest.json")
    assert my_sums == your_sums and len(my_sums) >= 15
    assert {k: v for k, v in my_files.items() if k not in ("manifest.json", "SHA256SUMS")} == {
        k: v for k, v in your_files.items() if k not in ("manifest.json", "SHA256SUMS")
    }
    assert {**mine, "job": None} == {**yours, "job": None}  # counts, confirmers, model versions, options
    if method == "pg_dump":
        assert mine["job"] == yours["job"] and my_files == your_files
    assert mine["counts"]["confirmed_masks"] == 3 and mine["counts"]["split_train"] == 3

    refused = _restore(env, backup)  # onto the restored, now non-empty database
    assert refused.returncode != 0
    assert "Refusing to restore into a database that already holds data" in refused.stderr
    assert "labeling.Image: 3" in refused.stderr

    damaged = backup / "media" / CHECKPOINT
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    with pytest.raises(BackupError, match=f"media/{CHECKPOINT} does not match its SHA-256"):
        backup_verify(source=backup)
    with pytest.raises(CommandError, match="not an empty directory"):
        call_command("backup", out=str(backup))


def _public_tables(name: str) -> int:
    db = connection.settings_dict
    with psycopg.connect(dbname=name, host=db["HOST"], port=db["PORT"], user=db["USER"]) as conn:
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
