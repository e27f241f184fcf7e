"""Directory datasets (images/, masks/, splits/*.txt; no DB): 8/16-bit PNG and TIFF reading, data hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


@dataclass
class Sample:
    """One frame: raw image (H, W) any dtype, bool mask (H, W) or None, its id, and optionally the clicks.

    `points`: (N, 2) float (x, y) (x = column, y = row), one human click per target. Training then prompts
    with them instead of the mask's component centroids: touching targets form one component of the union
    mask, whose centroid is a wrong prompt for either of them.

    `instances`: optionally each target's own bool mask, in the order of `points`: evaluation then also counts
    targets one by one (ml.metrics.instance_counts), where the union's components would count a touching cluster
    as one target and every split prediction in it as a false one.
    """

    id: str
    image: np.ndarray
    mask: np.ndarray | None = None
    points: np.ndarray | None = None
    instances: list[np.ndarray] | None = None


def read_image(path: str | Path) -> np.ndarray:
    """Read a grey frame keeping its bit depth: (H, W) uint8/uint16/float. Colour -> luminance.

    Raises ValueError naming the file when it cannot be read.
    """
    p = Path(path)
    arr = None
    try:
        if p.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(str(p))
        else:
            arr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported with the file name
        raise ValueError(f"cannot read image {p}: {exc}") from exc
    if arr is None or arr.size == 0:
        raise ValueError(f"cannot read image {p}: missing, empty or not an image")
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        if p.suffix.lower() in (".tif", ".tiff"):
            rgb = arr[..., :3]
        else:
            rgb = arr[..., 2::-1]  # OpenCV gives BGR(A)
        arr = np.rint(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(arr.dtype)
    if arr.ndim != 2:
        raise ValueError(f"cannot read image {p}: unsupported shape {arr.shape}")
    return arr


def read_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as bool (H, W): above half of the dtype's range is foreground.

    Raises ValueError naming the file when unreadable or when its size differs from `shape`.
    """
    arr = read_image(path)
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"mask {path} has size {arr.shape[1]}x{arr.shape[0]}, image is {shape[1]}x{shape[0]}")
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        return arr > np.iinfo(arr.dtype).max // 2
    return arr > 0.5


def find_file(folder: Path, image_id: str) -> Path:
    """The file `<folder>/<id>.<ext>` for a known image extension; ValueError if absent."""
    for ext in IMAGE_EXTS:
        p = folder / f"{image_id}{ext}"
        if p.exists():
            return p
    raise ValueError(f"no image file for id {image_id!r} in {folder}")


def list_ids(folder: Path) -> list[str]:
    """Sorted ids of the image files in a folder."""
    return sorted(p.stem for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def read_split(root: str | Path, split: str | None) -> list[str]:
    """Ids of `<root>/splits/<split>.txt`; with split None, every image in `<root>/images`."""
    root = Path(root)
    if split is None:
        return list_ids(root / "images")
    path = root / "splits" / f"{split}.txt"
    if not path.exists():
        raise ValueError(f"split file {path} not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_samples(root: str | Path, split: str | None = None, with_masks: bool = True) -> list[Sample]:
    """Load the samples of a split (or of the whole directory) into memory."""
    root = Path(root)
    out = []
    for image_id in read_split(root, split):
        image = read_image(find_file(root / "images", image_id))
        mask = read_mask(find_file(root / "masks", image_id), image.shape) if with_masks else None
        out.append(Sample(image_id, image, mask))
    return out


def file_sha256s(root: str | Path, split: str | None = None) -> list[str]:
    """SHA-256 of every image file of a split, sorted: lets an app recognise frames the weights have seen.

    Hashes the original file bytes (not the decoded pixels), the way an upload is fingerprinted.
    """
    root = Path(root)
    return sorted(
        hashlib.sha256(find_file(root / "images", image_id).read_bytes()).hexdigest()
        for image_id in read_split(root, split)
    )


def data_hash(samples: list[Sample]) -> str:
    """SHA-256 (first 16 hex digits) over ids, image bytes and mask bytes, in order."""
    h = hashlib.sha256()
    for s in samples:
        h.update(s.id.encode())
        h.update(str(s.image.dtype).encode() + str(s.image.shape).encode())
        h.update(np.ascontiguousarray(s.image).tobytes())
        if s.mask is not None:
            h.update(np.packbits(s.mask).tobytes())
        if s.points is not None:  # only then: the hash of samples without clicks stays what it was
            h.update(b"points" + np.ascontiguousarray(s.points, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def split_selection(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Deterministically carve a selection split (by sorted id) out of training samples."""
    ids = sorted(s.id for s in samples)
    rng = np.random.default_rng(seed)
    n_sel = int(round(fraction * len(ids))) if len(ids) > 1 else 0
    chosen = set(rng.permutation(len(ids))[:n_sel].tolist())
    sel_ids = {ids[i] for i in chosen}
    return [s for s in samples if s.id not in sel_ids], [s for s in samples if s.id in sel_ids]
