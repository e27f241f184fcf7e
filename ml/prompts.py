"""TEI: turn point prompts into a Gaussian energy map (FWHM 4 px, peak 1, max over points)."""

from __future__ import annotations

import math

import numpy as np


def as_points(points: np.ndarray | list | None) -> np.ndarray:
    """Return points as a float64 (N, 2) array in (x, y) order; None or empty gives (0, 2)."""
    if points is None:
        return np.zeros((0, 2), dtype=np.float64)
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2) in (x, y) order, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("points contain NaN or infinite coordinates")
    return arr


def make_gaussian_map(points: np.ndarray | list | None, shape: tuple[int, int], fwhm: float = 4.0) -> np.ndarray:
    """Build the TEI energy map.

    Args:
        points: (N, 2) float pixel coordinates (x = column, y = row, (0, 0) = centre of the top-left
            pixel). Points may lie outside the map (e.g. after cropping); their tails still count.
        shape: (H, W) of the map.
        fwhm: full width at half maximum in px (the paper's "peak half-width" 4).

    Returns:
        (H, W) float32 in [0, 1]: max over points of 2^(-4 d^2 / fwhm^2); 1 at a point on a pixel
        centre, 0.5 at 2 px for fwhm 4; all zeros with no points.
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=np.float32)
    pts = as_points(points)
    if fwhm <= 0:
        raise ValueError(f"fwhm must be > 0, got {fwhm}")
    # Beyond this radius the value is below 1e-9: computing it locally keeps big images cheap.
    radius = int(math.ceil(3.0 * fwhm))
    k = 4.0 * math.log(2.0) / (fwhm * fwhm)
    for x, y in pts:
        r0, r1 = max(0, int(math.floor(y)) - radius), min(h, int(math.ceil(y)) + radius + 1)
        c0, c1 = max(0, int(math.floor(x)) - radius), min(w, int(math.ceil(x)) + radius + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        rr = (np.arange(r0, r1, dtype=np.float64) - y)[:, None]
        cc = (np.arange(c0, c1, dtype=np.float64) - x)[None, :]
        g = np.exp(-k * (rr * rr + cc * cc)).astype(np.float32)
        np.maximum(out[r0:r1, c0:c1], g, out=out[r0:r1, c0:c1])
    return out


def point_pixels(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest pixel (row, col) int array (N, 2) of each (x, y) point, clipped to the image."""
    pts = as_points(points)
    rc = np.floor(pts[:, ::-1] + 0.5).astype(np.int64)
    rc[:, 0] = np.clip(rc[:, 0], 0, shape[0] - 1)
    rc[:, 1] = np.clip(rc[:, 1], 0, shape[1] - 1)
    return rc


def check_points_inside(points: np.ndarray, shape: tuple[int, int], name: str = "image") -> np.ndarray:
    """Validate that every (x, y) point lies on the image (within half a pixel); return the points."""
    pts = as_points(points)
    h, w = shape
    for i, (x, y) in enumerate(pts):
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            raise ValueError(f"point {i} (x={x:g}, y={y:g}) lies outside {name} of size {w}x{h} (WxH)")
    return pts
