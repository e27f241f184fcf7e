"""Writing the export zip: fixed-date entries, SHA-256 of each kept on disk, fast deterministic PNGs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image as PILImage

DATE = (2020, 1, 1, 0, 0, 0)  # fixed: the same content gives the same zip entry


class ZipWriter:
    """The zip being written: every entry's SHA-256 goes to a side file (SHA256SUMS), never held in memory."""

    def __init__(self, path: Path, sums: IO[str]):
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.sums = sums
        self.files = 0
        self.bytes = 0

    def write(self, name: str, data: bytes, stored: bool = False) -> None:
        kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info = zipfile.ZipInfo(name, date_time=DATE)
        info.compress_type, info.external_attr = kind, 0o644 << 16
        self.zip.writestr(info, data, compress_type=kind, compresslevel=1 if kind == zipfile.ZIP_DEFLATED else None)
        self.sums.write(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        self.files += 1
        self.bytes += len(data)

    def write_file(self, name: str, path: Path) -> None:
        info = zipfile.ZipInfo(name, date_time=DATE)
        info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
        digest = hashlib.sha256()
        with open(path, "rb") as src, self.zip.open(info, "w", force_zip64=True) as dst:
            while chunk := src.read(1024 * 1024):
                digest.update(chunk)
                dst.write(chunk)
                self.bytes += len(chunk)
        self.sums.write(f"{digest.hexdigest()}  {name}\n")
        self.files += 1


def png_fast(array: np.ndarray) -> bytes:
    """A lossless grey PNG (8- or 16-bit) at zlib level 1: about 5x faster than the default on sparse masks, and
    deterministic, so a re-export gives the same bytes."""
    buffer = io.BytesIO()
    native = array.astype(array.dtype.newbyteorder("="), copy=False)
    PILImage.fromarray(np.ascontiguousarray(native)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def json_array_copy(handle: IO[str], out: IO[str]) -> None:
    """Lines "obj,\\n" -> a JSON array body (the last comma dropped), streamed."""
    handle.flush()
    handle.seek(0)
    previous = None
    for line in handle:
        if previous is not None:
            out.write(previous)
        previous = line
    if previous is not None:
        out.write(previous.rstrip().rstrip(",") + "\n")
