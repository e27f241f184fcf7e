"""Review flags about a mask's own point and shape (point_outside, disconnected, too_large), for every mask."""

# A brush stroke that lands on the wrong target, or an eraser that takes the point's pixel, leaves a mask that looks
# fine at a glance; these flags make the reviewer look.

import math

import numpy as np

# A target bigger than this (pixels) is unusual for an IR small target (project setting `generator.large_area`).
DEFAULT_LARGE_AREA = 400
# An edit is "far larger" than the target's blob (its generated mask) past both of these.
GROWTH_FACTOR = 3
GROWTH_MIN_PIXELS = 16

POINT_OUTSIDE = "point_outside"
DISCONNECTED = "disconnected"
TOO_LARGE = "too_large"
# Warnings a reviewer must acknowledge before confirming (409 otherwise): the mask may belong to another target.
BLOCKING_WARNINGS = (POINT_OUTSIDE,)


def point_pixel(x: float, y: float, height: int, width: int) -> tuple[int, int]:
    """The (row, col) of the pixel under a sub-pixel point ((0, 0) is the centre of the top-left pixel); halves round
    up, as the canvas's pixelAt does (Math.round), so the browser and the server name the same pixel."""
    return min(max(math.floor(y + 0.5), 0), height - 1), min(max(math.floor(x + 0.5), 0), width - 1)


def point_inside(raster: np.ndarray, x: float, y: float) -> bool:
    """Whether the pixel under (x, y) is in the (H, W) bool mask. A point exactly on the edge between pixels (x or y
    ending in .5) touches both: either counts, whatever rounding the client used."""
    row, col = point_pixel(x, y, *raster.shape)
    rows = [row, row - 1] if (y + 0.5).is_integer() and row > 0 else [row]
    cols = [col, col - 1] if (x + 0.5).is_integer() and col > 0 else [col]
    return any(bool(raster[r, c]) for r in rows for c in cols)


def _disconnected(raster: np.ndarray, row: int, col: int) -> bool:
    """Some 8-connected part of the mask does not reach the point's pixel or its 8 neighbours (read on the mask's
    bounding box only: a full-frame labelling per save would cost milliseconds on large frames)."""
    import cv2

    rows, cols = np.flatnonzero(raster.any(axis=1)), np.flatnonzero(raster.any(axis=0))
    if not len(rows):
        return False
    y0, y1 = min(rows[0], row - 1), max(rows[-1], row + 1) + 1
    x0, x1 = min(cols[0], col - 1), max(cols[-1], col + 1) + 1
    y0, x0 = max(y0, 0), max(x0, 0)
    crop = raster[y0:y1, x0:x1].astype(np.uint8)
    count, labels = cv2.connectedComponents(crop, connectivity=8)
    near = labels[max(row - 1 - y0, 0) : row + 2 - y0, max(col - 1 - x0, 0) : col + 2 - x0]
    return len(set(np.unique(near).tolist()) - {0}) < count - 1  # parts (background is label 0) the point misses


def mask_point_warnings(raster: np.ndarray, x: float, y: float) -> list[str]:
    """`point_outside` when the pixel under the target's point is not in its mask."""
    return [] if point_inside(raster, x, y) else [POINT_OUTSIDE]


def edited_mask_warnings(
    raster: np.ndarray, *, x: float, y: float, blob_area: int | None, large_area: int = DEFAULT_LARGE_AREA
) -> list[str]:
    """Flags for a human-edited (H, W) bool mask of the target at (x, y): `point_outside`, `disconnected` (a part
    away from the point), `too_large` (over `large_area`, or far larger than `blob_area`, the target's generated
    mask, when one is known)."""
    found = mask_point_warnings(raster, x, y)
    row, col = point_pixel(x, y, *raster.shape)
    if _disconnected(raster, row, col):
        found.append(DISCONNECTED)
    area = int(raster.sum())
    grown = blob_area is not None and area > max(GROWTH_FACTOR * blob_area, blob_area + GROWTH_MIN_PIXELS)
    if area > large_area or grown:
        found.append(TOO_LARGE)
    return found
