"""Frames for the streaming benches: image + one bool mask and one (x, y) point per target, in a fixed order.

A frame folder holds `images/<id>.<ext>` and `masks/<id>.<ext>` (any `ml.data.IMAGE_EXTS`), plus an optional
`points.json` = {"<id>": [[x, y], ...]} (x = column, y = row, (0, 0) the centre of the top-left pixel).

How a mask file is read (decided by its dtype and values, so one folder may mix both kinds):
- binary: every non-zero value is the dtype's maximum (uint8 {0, 255}, uint16 {0, 65535}), or a bool image,
  or a uint8 image with values in {0, 1}. Targets are its 8-connected components. With points (a point
  lies in the component under its pixel, the nearest pixel centre), a component holding several points is
  split among them by nearest point (ties: the earlier point); a point in no component, a component with
  no point, or a point left with no pixel is an error. The one ambiguous case is decided by the points: a
  {0, 1} image with exactly one point is read as a label image (label 1 = that target, even in pieces).
- instance labels: any other integer image (uint16, or uint8 with labels 0..K, K <= 254 and no 255):
  0 is background and label k is target k. Labels 1..K must all be present. With points, there must be K
  points and point k must lie in instance k.
Without points, each instance's point is the floor of its centroid (`ml.points.centroid_points`); an
instance whose floored centroid falls outside it gets its pixel nearest to the centroid instead.
Every error is a ValueError naming the file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.data import find_file, list_ids, read_image
from ml.points import label_components

ORDERS = ("hash", "name")


@dataclass
class Frame:
    """One frame: raw image (H, W) in its own dtype, bool (H, W) instances and (N, 2) float (x, y) points,
    instance i belonging to point i."""

    id: str
    image: np.ndarray
    instances: list[np.ndarray]
    points: np.ndarray


def load_frames(images_dir: str | Path, masks_dir: str | Path, points_json: str | Path | None = None) -> list[Frame]:
    """Every image of `images_dir` with its mask (and its points when `points_json` is given), sorted by id.

    The mask of `<id>` is `masks_dir/<id>.<ext>`; see the module docstring for how it is read. With
    `points_json`, every image needs an entry and every entry an image.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    if not images_dir.is_dir():
        raise ValueError(f"image folder {images_dir} not found")
    ids = list_ids(images_dir)
    points = _read_points(Path(points_json), ids) if points_json is not None else None
    frames = []
    for image_id in ids:
        image_path = find_file(images_dir, image_id)
        image = read_image(image_path)
        try:
            mask_path = find_file(masks_dir, image_id)
        except ValueError as exc:
            raise ValueError(f"no mask for image {image_path}: {exc}") from exc
        pts = None if points is None else points[image_id]
        instances, pts = read_instances(mask_path, image.shape, pts)
        frames.append(Frame(image_id, image, instances, pts))
    return frames


def read_instances(
    path: str | Path, shape: tuple[int, ...], points: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """One mask file -> (bool (H, W) instances in point order, (N, 2) float (x, y) points).

    `shape` is the image's (H, W); `points` (N, 2) (x, y) or None (then each instance's floored centroid).
    """
    mask = read_image(path)
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"mask {path} has shape {mask.shape}, its image has {tuple(shape[:2])}")
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    if mask.dtype.kind not in "iu":
        raise ValueError(f"mask {path} has dtype {mask.dtype}; expected an integer or bool image")
    if mask.min(initial=0) < 0:
        raise ValueError(f"mask {path} has negative values")
    if points is not None:
        _check_points_inside(points, mask.shape, path)
    if _is_binary(mask, points):
        return _split_binary(mask > 0, points, path)
    return _from_labels(mask, points, path)


def frame_order(ids: list[str], order: str = "hash", salt: str = "stream") -> list[str]:
    """The ids in the benches' fixed streaming order.

    "hash": by SHA-256 of `<salt>:<id>` (stable across machines and Python versions, unlike `hash()`, and
    unrelated to the names, so frames of one sequence do not arrive together); "name": sorted by id.
    """
    if order == "name":
        return sorted(ids)
    if order == "hash":
        return sorted(ids, key=lambda i: (hashlib.sha256(f"{salt}:{i}".encode()).hexdigest(), i))
    raise ValueError(f"unknown order {order!r}; choose one of {ORDERS}")


def _read_points(path: Path, ids: list[str]) -> dict[str, np.ndarray]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read points file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"points file {path} must hold an object {{id: [[x, y], ...]}}")
    missing, extra = sorted(set(ids) - set(raw)), sorted(set(raw) - set(ids))
    if missing or extra:
        raise ValueError(f"points file {path}: no points for {missing[:5]}, points without an image {extra[:5]}")
    out = {}
    for image_id, pts in raw.items():
        try:
            arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2) if len(pts) else np.zeros((0, 2))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"points file {path}: points of {image_id!r} are not [[x, y], ...]") from exc
        if not np.isfinite(arr).all():
            raise ValueError(f"points file {path}: points of {image_id!r} are not finite")
        out[image_id] = arr
    return out


def _pixels(points: np.ndarray) -> np.ndarray:
    """(N, 2) int (row, col): the pixel holding each (x, y) point (nearest pixel centre, as the cold start)."""
    return np.rint(np.asarray(points, dtype=np.float64)[:, ::-1]).astype(np.int64)


def _check_points_inside(points: np.ndarray, shape: tuple[int, int], path: str | Path) -> None:
    rc = _pixels(points)
    bad = (rc < 0).any(axis=1) | (rc[:, 0] >= shape[0]) | (rc[:, 1] >= shape[1])
    if bad.any():
        raise ValueError(f"mask {path}: point {int(np.argmax(bad))} {points[int(np.argmax(bad))].tolist()} is outside")


def _is_binary(mask: np.ndarray, points: np.ndarray | None) -> bool:
    values = np.unique(mask)
    if values.size <= 1:
        return True  # empty (or full): nothing to tell apart
    top = int(np.iinfo(mask.dtype).max)
    if set(values[values > 0].tolist()) == {top}:
        return True
    if mask.dtype == np.uint8 and values.max() == 1:
        return points is None or len(points) != 1  # {0, 1}: one point -> one label
    return False


def _check_labels(mask: np.ndarray, path: str | Path) -> None:
    if mask.dtype == np.uint8 and mask.max() == 255:
        raise ValueError(f"mask {path} mixes 255 with other values: neither binary (0/255) nor labels (0..K, no 255)")


def _split_binary(mask: np.ndarray, points: np.ndarray | None, path: str | Path) -> tuple[list, np.ndarray]:
    n, labels, _, _ = label_components(mask)
    if points is None:
        instances = [labels == k for k in range(1, n + 1)]
        return instances, instance_points(instances)
    rc = _pixels(points)
    owner = labels[rc[:, 0], rc[:, 1]]
    if (owner == 0).any():
        i = int(np.argmax(owner == 0))
        raise ValueError(f"mask {path}: point {i} {points[i].tolist()} is in no target")
    empty = sorted(set(range(1, n + 1)) - set(owner.tolist()))
    if empty:
        raise ValueError(f"mask {path}: {len(empty)} target(s) without a point (first pixel of component {empty[0]})")
    instances = [np.zeros(mask.shape, dtype=bool) for _ in range(len(points))]
    for k in range(1, n + 1):
        mine = np.nonzero(owner == k)[0]
        ys, xs = np.nonzero(labels == k)
        if len(mine) == 1:
            instances[mine[0]][ys, xs] = True
            continue
        d2 = (xs[:, None] - points[mine, 0]) ** 2 + (ys[:, None] - points[mine, 1]) ** 2
        nearest = mine[np.argmin(d2, axis=1)]  # argmin keeps the earlier point on ties
        for i in mine:
            instances[i][ys[nearest == i], xs[nearest == i]] = True
    for i, inst in enumerate(instances):
        if not inst.any():
            raise ValueError(f"mask {path}: point {i} {points[i].tolist()} gets no pixel (another point is nearer)")
    return instances, np.asarray(points, dtype=np.float64).reshape(-1, 2)


def _from_labels(mask: np.ndarray, points: np.ndarray | None, path: str | Path) -> tuple[list, np.ndarray]:
    _check_labels(mask, path)
    k_max = int(mask.max())
    present = np.unique(mask)
    if len(present) != k_max + 1:
        missing = sorted(set(range(k_max + 1)) - set(present.tolist()))
        raise ValueError(f"mask {path}: instance labels 1..{k_max} expected, {len(missing)} missing ({missing[:5]})")
    instances = [mask == k for k in range(1, k_max + 1)]
    if points is None:
        return instances, instance_points(instances)
    if len(points) != k_max:
        raise ValueError(f"mask {path}: {k_max} instances but {len(points)} points")
    rc = _pixels(points)
    for i, inst in enumerate(instances):
        if not inst[rc[i, 0], rc[i, 1]]:
            raise ValueError(f"mask {path}: point {i} {points[i].tolist()} is not inside instance {i + 1}")
    return instances, np.asarray(points, dtype=np.float64).reshape(-1, 2)


def instance_points(instances: list[np.ndarray]) -> np.ndarray:
    """(N, 2) float (x, y): floored centroid of each instance, or its pixel nearest the centroid if outside."""
    out = np.zeros((len(instances), 2), dtype=np.float64)
    for i, inst in enumerate(instances):
        ys, xs = np.nonzero(inst)
        cy, cx = ys.mean(), xs.mean()
        y, x = int(np.floor(cy)), int(np.floor(cx))
        if not inst[y, x]:
            j = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
            y, x = int(ys[j]), int(xs[j])
        out[i] = (x, y)
    return out
