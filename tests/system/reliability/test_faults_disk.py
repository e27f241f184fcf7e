"""The media disk fills up (a 2 MiB tmpfs mounted as MEDIA_ROOT): uploads are refused with 507, nothing is left.

An upload that runs out of space mid-file answers 507 Insufficient Storage with {message, extra.reason =
"storage_full"}: no Image row, no partial file, the images stored before untouched. In a batch the files that fit
are kept (207) and the others say why; once space is freed the same upload succeeds.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling import storage
from labeling.models import Image
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_disk(tmp_path, settings):
    """A 2 MiB tmpfs as MEDIA_ROOT; a mount that fails fails the test (CI runs as root, as here)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (needs root): {mounted.stderr.strip()}")
    settings.MEDIA_ROOT = mount_point
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _noise_png(seed: int, side: int) -> bytes:
    """An incompressible 16-bit PNG (about 2 * side**2 bytes)."""
    return png_bytes(np.random.default_rng(seed).integers(0, 65535, (side, side), dtype=np.uint16))


def _fill(disk: Path, leave: int) -> Path:
    """Write a filler file until the disk is full, then give back `leave` bytes."""
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\xff" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _files(disk: Path) -> dict[str, int]:
    return {str(p.relative_to(disk)): p.stat().st_size for p in disk.rglob("*") if p.is_file()}


def _upload(client, project, *files: tuple[str, bytes]):
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    return client.post(reverse("image-list", args=[project.pk]), data, format="multipart")


def test_upload_to_a_full_media_disk_is_refused_with_507_and_leaves_nothing(small_disk, project, manager, client_for):
    client = client_for(manager)
    first_bytes = _noise_png(1, 64)
    assert _upload(client, project, ("first.png", first_bytes)).status_code == 201
    first = Image.objects.get()

    big = _noise_png(2, 256)  # ~130 kB: starts writing into the 48 kB left, then runs out mid-file
    filler = _fill(small_disk, leave=48 * 1024)
    before = _files(small_disk)
    response = _upload(client, project, ("big.png", big))
    assert response.status_code == 507, response.content
    body = response.json()
    assert "media storage is full" in body["message"] and body["extra"]["errors"][0]["status"] == 507, body
    assert list(Image.objects.values_list("pk", flat=True)) == [first.pk]  # no row
    assert _files(small_disk) == before  # no partial file: only the filler and the first image
    kept = client.get(reverse("image-file", args=[first.pk]))
    assert kept.status_code == 200 and kept.content == first_bytes  # what was stored before is intact

    # A batch keeps the files that fit and says which did not; freeing space lets the same upload through.
    small = _noise_png(3, 48)
    response = _upload(client, project, ("small.png", small), ("big.png", big))
    assert response.status_code == 207, response.content
    body = response.json()
    assert [i["original_name"] for i in body["created"]] == ["small.png"]
    assert [(e["file"], e["status"]) for e in body["errors"]] == [("big.png", 507)]
    filler.unlink()
    assert _upload(client, project, ("big.png", big)).status_code == 201
    stored = {i.original_name: storage.read_original(i) for i in Image.objects.all()}
    assert stored == {"first.png": first_bytes, "small.png": small, "big.png": big}
