"""Label decoding: binary and instance mask PNGs, point PNGs and JSON, COCO RLE and polygons; union splitting."""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image as PILImage
from pycocotools import mask as coco_mask

from labeling import storage

POLYGON_MAX_PERIMETER_FRAMES = 8  # a target's outline is far shorter than this many times round the frame


class LabelError(ValueError):
    """A label file that cannot be used; the message names the reason (the caller adds the file)."""


@dataclass
class Annotation:
    """One target to create: a point (x, y) and, when known, its instance mask."""

    x: float | None
    y: float | None
    raster: np.ndarray | None = None
    state: str | None = None  # a state the source declares (our COCO export's attributes), else None
    attributes: dict[str, Any] = field(default_factory=dict)
    track_id: int | None = None  # the object across a sequence's frames (COCO `track_id`), else None


def _png_array(data: bytes, height: int, width: int, what: str) -> np.ndarray:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 33 or data[12:16] != b"IHDR":
        raise LabelError(f"the {what} is not a PNG")
    png_width, png_height = struct.unpack(">II", data[16:24])
    if (png_height, png_width) != (height, width):
        raise LabelError(f"the {what} is {png_width}x{png_height}, its image is {width}x{height}")
    try:
        with PILImage.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "L", "1"):
                array = np.asarray(img)
            elif "A" in img.getbands() and img.mode in ("LA", "RGBA", "PA"):
                array = np.asarray(img.convert("RGBA"))[..., 0]
            else:
                array = np.asarray(img.convert("RGB"))[..., 0]  # channel 0, as the EDGSP loaders read masks
    except (OSError, ValueError, SyntaxError, zlib.error) as exc:
        raise LabelError(f"the {what} PNG is truncated or corrupt ({exc})") from exc
    return array


def binary_decode(data: bytes, height: int, width: int, what: str = "mask") -> np.ndarray:
    """A binary PNG (0 and one other value) -> bool (H, W); LabelError for soft values or another size."""
    array = _png_array(data, height, width, what)
    values = np.unique(array)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        shown = ", ".join(str(v) for v in values[:6]) + (", ..." if values.size > 6 else "")
        raise LabelError(f"the {what} has soft values ({shown}); only 0 and one foreground value are accepted")
    return array > 0


def instances_decode(data: bytes, height: int, width: int) -> list[tuple[int, np.ndarray]]:
    """A label-id PNG (8 or 16 bit) -> [(label, bool (H, W))] in label order."""
    array = _png_array(data, height, width, "instance mask")
    return [(int(label), array == label) for label in np.unique(array) if label != 0]


def points_from_png(data: bytes, height: int, width: int) -> list[tuple[float, float]]:
    """One white pixel per target (as the EDGSP/LESPS point files): every foreground pixel is a point (x, y)."""
    raster = binary_decode(data, height, width, "point PNG")
    rows, cols = np.nonzero(raster)
    return [(float(c), float(r)) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]


def point_check(x: Any, y: Any, height: int, width: int) -> tuple[float, float]:
    """A JSON point -> (x, y); pixel centres are integers, so the frame covers [-0.5, size - 0.5)."""
    for value, axis, size in ((x, "x", width), (y, "y", height)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise LabelError(f"{axis} must be a finite number, got {value!r}")
        if not -0.5 <= value < size - 0.5:
            raise LabelError(f"{axis}={value} lies outside the {width}x{height} image")
    return float(x), float(y)


def points_from_json(points: list[Any], height: int, width: int) -> list[dict[str, Any]]:
    """[{"x", "y", ...}] or [[x, y], ...] -> [{"x", "y", "label"?, "mask"?}] (LabelError names the entry)."""
    out = []
    for index, point in enumerate(points):
        if isinstance(point, dict):
            x, y = point.get("x"), point.get("y")
        elif isinstance(point, list | tuple) and len(point) >= 2:
            x, y, point = point[0], point[1], {}
        else:
            raise LabelError(f"point {index}: expected {{x, y}} or [x, y], got {point!r}"[:200])
        try:
            px, py = point_check(x, y, height, width)
        except LabelError as exc:
            raise LabelError(f"point {index}: {exc}") from exc
        label = point.get("label")
        if isinstance(label, bool) or not isinstance(label, int | None):
            raise LabelError(f"point {index}: label must be an instance id (an integer), got {label!r}"[:200])
        out.append({"x": px, "y": py, "label": label, "mask": point.get("mask")})
    return out


def coco_segmentation_decode(segmentation: Any, height: int, width: int) -> np.ndarray:
    """COCO RLE (compressed or not) or polygons -> bool (H, W); LabelError when malformed or of another size."""
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not isinstance(size, list | tuple) or list(size) != [height, width]:
            raise LabelError(f"the RLE size is {size}, the image is [height, width] = [{height}, {width}]")
        if isinstance(counts, str):
            try:
                return storage.mask_decode(counts, height, width)
            except ValueError as exc:
                raise LabelError(f"bad RLE ({exc})") from exc
        if isinstance(counts, list) and all(isinstance(c, int) and c >= 0 for c in counts):
            if sum(counts) != height * width:
                raise LabelError(f"the RLE covers {sum(counts)} pixels, the image has {height * width}")
            flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
            return flat.reshape((width, height)).T.copy()
        raise LabelError("RLE counts must be a string or a list of non-negative integers")
    if isinstance(segmentation, list) and segmentation:
        polygons = segmentation if isinstance(segmentation[0], list) else [segmentation]
        _polygons_check(polygons, height, width)
        rles = coco_mask.frPyObjects([[float(v) for v in p] for p in polygons], height, width)
        return coco_mask.decode(coco_mask.merge(rles)).astype(bool)
    if segmentation in (None, [], {}):
        return np.zeros((height, width), bool)
    raise LabelError("segmentation must be an RLE object or a list of polygons")


def _polygons_check(polygons: list[Any], height: int, width: int) -> None:
    """Refuse what pycocotools would turn into an unbounded allocation (or a crash) before it sees it.

    Its polygon rasteriser walks every edge at 5x resolution and allocates for the whole walk: a vertex at 1e8
    asks for gigabytes, 1e300 overflows its C ints, and a long list of frame-sized edges does the same slowly. So
    every vertex must lie within one frame size of the image, and the polygons' total edge length (Chebyshev) must
    stay under POLYGON_MAX_PERIMETER_FRAMES times the frame's perimeter."""
    limit = POLYGON_MAX_PERIMETER_FRAMES * 2 * (height + width)
    length = 0.0
    for polygon in polygons:
        if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
            raise LabelError("a polygon needs an even list of at least 6 finite numbers")
        for i, v in enumerate(polygon):
            size = width if i % 2 == 0 else height
            # Comparisons, not math.isfinite(): a JSON integer may be too large to become a float. NaN fails them.
            if isinstance(v, bool) or not isinstance(v, int | float) or not -size <= v <= 2 * size:
                raise LabelError(f"a polygon vertex coordinate {str(v)[:20]} is not a number within the frame")
        xs, ys = polygon[0::2], polygon[1::2]
        for k in range(len(xs)):
            length += max(abs(xs[k] - xs[k - 1]), abs(ys[k] - ys[k - 1])) + 1
        if length > limit:
            raise LabelError(
                f"the polygons are longer than {limit} pixels in all ({POLYGON_MAX_PERIMETER_FRAMES}x the frame)"
            )


def coco_annotation(ann: dict[str, Any], height: int, width: int) -> Annotation:
    """A COCO annotation -> Annotation: our attributes.point first, else the first keypoint, else no point."""
    if not isinstance(ann, dict):
        raise LabelError("an annotation must be an object")
    raster = coco_segmentation_decode(ann.get("segmentation"), height, width)
    attributes = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
    try:  # they are kept in the mask's provenance: PostgreSQL's JSON refuses NaN and Infinity (Python's allows)
        json.dumps(attributes, allow_nan=False)
    except ValueError as exc:
        raise LabelError(f"the attributes hold a value JSON cannot store ({exc})") from exc
    x = y = None
    point = attributes.get("point")
    keypoints = ann.get("keypoints")
    if isinstance(point, list) and len(point) == 2:
        x, y = point_check(point[0], point[1], height, width)
    elif isinstance(keypoints, list) and len(keypoints) >= 3 and keypoints[2]:
        x, y = point_check(keypoints[0], keypoints[1], height, width)
    track = ann.get("track_id")
    track = track if isinstance(track, int) and not isinstance(track, bool) and 0 < track < 2**31 else None
    return Annotation(x, y, raster if raster.any() else None, attributes.get("state"), attributes, track)


def centroid_point(raster: np.ndarray) -> tuple[float, float]:
    """The LESPS centroid prompt of a mask: floor of its pixel centroid, as (x, y)."""
    rows, cols = np.nonzero(raster)
    return float(math.floor(cols.mean())), float(math.floor(rows.mean()))


def components(raster: np.ndarray) -> list[np.ndarray]:
    """8-connected components of a bool (H, W) mask, in raster order of their first pixel."""
    import cv2

    count, labels = cv2.connectedComponents(raster.astype(np.uint8), connectivity=8)
    return [labels == label for label in range(1, count)]


def union_split(raster: np.ndarray, points: list[tuple[float, float]]) -> list[Annotation]:
    """A union mask and points -> one target per point (its component, shared components split by nearest point),
    plus one target per component without a point (at its centroid); points off every component get no mask."""
    owners: dict[int, list[int]] = {}
    parts = components(raster)
    label_of = np.zeros(raster.shape, np.int32)
    for index, part in enumerate(parts):
        label_of[part] = index + 1
    height, width = raster.shape
    for i, (x, y) in enumerate(points):
        col, row = min(max(round(x), 0), width - 1), min(max(round(y), 0), height - 1)
        if label_of[row, col]:
            owners.setdefault(int(label_of[row, col]) - 1, []).append(i)
    out = [Annotation(x, y) for x, y in points]
    for index, part in enumerate(parts):
        mine = owners.get(index)
        if not mine:
            out.append(Annotation(*centroid_point(part), raster=part))
        elif len(mine) == 1:
            out[mine[0]].raster = part
        else:
            rows, cols = np.nonzero(part)
            anchors = np.array([points[i] for i in mine])
            d = (cols[:, None] - anchors[None, :, 0]) ** 2 + (rows[:, None] - anchors[None, :, 1]) ** 2
            nearest = np.argmin(d, axis=1)
            for k, i in enumerate(mine):
                piece = np.zeros(raster.shape, bool)
                piece[rows[nearest == k], cols[nearest == k]] = True
                out[i].raster = piece if piece.any() else None
    return out
