"""Safe reading of a dataset source (a zip archive or a server-side folder): nothing escapes, explodes or links."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.exceptions import ApplicationError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"\x28\xb5\x2f\xfd")
# Operating-system litter that is never a dataset file: ignored without a report line.
_LITTER = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$|\._)")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1024 * 1024


class SourceError(ApplicationError):
    """The whole source is refused (not an archive, too many files, too many bytes); nothing is imported."""


@dataclass(frozen=True)
class Limits:
    max_members: int
    max_total_bytes: int
    max_member_bytes: int
    max_ratio: float
    ratio_min_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_members=settings.DATASET_MAX_MEMBERS,
            max_total_bytes=settings.DATASET_MAX_TOTAL_BYTES,
            max_member_bytes=settings.DATASET_MAX_MEMBER_BYTES,
            max_ratio=settings.DATASET_MAX_RATIO,
            ratio_min_bytes=settings.DATASET_RATIO_MIN_BYTES,
        )


def member_path(name: str) -> tuple[str | None, str]:
    """A member name -> (clean relative path, "") or (None, why it is refused). Never a path outside the root."""
    if "\x00" in name:
        return None, "the name holds a NUL byte"
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        return None, "absolute path (zip slip): refused"
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        return None, "path leaves the archive with '..' (zip slip): refused"
    if not parts:
        return None, "empty name"
    return "/".join(parts), ""


def is_archive_name(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class Source:
    """The files of a dataset, by clean relative path, and the report lines of those refused on the way in."""

    entries: dict[str, int] = field(default_factory=dict)  # path -> declared size in bytes
    skipped: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0
    limits: Limits | None = None

    def skip(self, path: str, message: str) -> None:
        self.skipped.append({"item": path, "message": f"{path}: {message}"})

    def _add(self, path: str, size: int) -> None:
        if path in self.entries:
            self.skip(path, "duplicate name in the source; the first copy is used")
        elif is_archive_name(path):
            self.skip(path, "nested archive: not opened (unpack it and import its content)")
        elif size > self.limits.max_member_bytes:
            self.skip(path, f"{size} bytes is over the per-file limit of {self.limits.max_member_bytes}")
        else:
            self.entries[path] = size

    def _count(self, n_members: int, total: int) -> None:
        if n_members > self.limits.max_members:
            raise SourceError(
                f"The source holds {n_members} files; the limit is {self.limits.max_members}.",
                extra={"files": n_members, "limit": self.limits.max_members},
            )
        if total > self.limits.max_total_bytes:
            raise SourceError(
                f"The source expands to {total} bytes; the limit is {self.limits.max_total_bytes}.",
                extra={"bytes": total, "limit": self.limits.max_total_bytes},
            )

    def _account(self, n: int) -> None:
        self.bytes_read += n
        if self.bytes_read > self.limits.max_total_bytes:
            raise SourceError(f"The source expanded past {self.limits.max_total_bytes} bytes; the import stopped.")

    def read(self, path: str) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        return None


class ZipSource(Source):
    """Reads members in memory only (never extracts to disk), each capped at its declared size."""

    def __init__(self, path: str | os.PathLike, limits: Limits | None = None):
        super().__init__(limits=limits or Limits.from_settings())
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"The upload is not a readable zip archive ({exc}).") from exc
        infos = [info for info in self.zip.infolist() if not info.is_dir()]
        self._count(len(infos), sum(info.file_size for info in infos))
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if _LITTER.search(info.filename.replace("\\", "/")):
                continue
            path, why = member_path(info.filename)
            shown = path or info.filename[:200]
            mode = info.external_attr >> 16
            if path is None:
                self.skip(shown, why)
            elif stat.S_ISLNK(mode):
                self.skip(shown, "symbolic link: refused")
            elif info.flag_bits & 0x1:
                self.skip(shown, "encrypted member: not readable")
            elif info.file_size > self.limits.ratio_min_bytes and (
                info.file_size > self.limits.max_ratio * max(info.compress_size, 1)
            ):
                ratio = info.file_size / max(info.compress_size, 1)
                self.skip(shown, f"expands {ratio:.0f}x (limit {self.limits.max_ratio:.0f}x): zip bomb refused")
            else:
                before = len(self.entries)
                self._add(path, info.file_size)
                if len(self.entries) > before:
                    self.infos[path] = info

    def read(self, path: str) -> bytes:
        """The member's bytes; ValueError when it expands past its declared size or fails its CRC."""
        info = self.infos[path]
        chunks, size = [], 0
        try:
            with self.zip.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    size += len(chunk)
                    self._account(len(chunk))
                    if size > info.file_size:
                        raise ValueError("expands past its declared size (zip bomb): refused")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
            raise ValueError(f"cannot be read from the archive ({exc})") from exc
        return b"".join(chunks)

    def close(self) -> None:
        self.zip.close()


class FolderSource(Source):
    """A server-side folder: links are refused (never followed), the same limits apply as to an archive."""

    def __init__(self, root: str | os.PathLike, limits: Limits | None = None):
        super().__init__(limits=limits or Limits.from_settings())
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise SourceError(f"{root}: not a folder.")
        found: list[tuple[str, int]] = []
        stack = [self.root]
        while stack:
            folder = stack.pop()
            with os.scandir(folder) as scan:
                for item in scan:
                    rel = Path(item.path).relative_to(self.root).as_posix()
                    if item.is_symlink():
                        self.skip(rel, "symbolic link: refused")
                    elif item.is_dir(follow_symlinks=False):
                        stack.append(Path(item.path))
                    elif item.is_file(follow_symlinks=False) and not _LITTER.search(rel):
                        found.append((rel, item.stat(follow_symlinks=False).st_size))
                    if len(found) > self.limits.max_members:
                        self._count(len(found), 0)
        self._count(len(found), sum(size for _, size in found))
        for rel, size in sorted(found):
            self._add(rel, size)

    def read(self, path: str) -> bytes:
        target = self.root / path
        # O_NOFOLLOW: a file swapped for a link after the scan is still refused.
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(self.entries[path] + 1)
        if len(data) > self.entries[path]:
            raise ValueError("grew while being imported: refused")
        self._account(len(data))
        return data


def source_open(*, kind: str, path: str | os.PathLike) -> Source:
    """A zip (`kind="zip"`) or a folder (`kind="folder"`); SourceError when it is refused as a whole."""
    if kind == "zip":
        return ZipSource(path)
    if kind == "folder":
        return FolderSource(path)
    raise SourceError(f"Unknown source kind {kind!r}.")


def looks_like_archive(data: bytes) -> bool:
    return data.startswith(ARCHIVE_MAGIC)
