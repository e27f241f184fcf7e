"""Model inputs: bit-depth independent normalisation, channel stacking and stride padding.

Normalisation ("robust", the default): x = 4 (I - median(I)) / (q99.99(I) - q0.01(I)), per image, in
float64. It depends on no display setting, and an affine change of the raw counts (8-bit data stored
as 16-bit x257, a sensor offset) gives the same x, so 8- and 16-bit frames behave identically. The
0.01% quantiles (instead of min/max) keep a few hot or dead pixels from squashing the scene.
Measured on SIRST train (bench/reports/quality.md): target contrast spread equal to the fixed
constants (std of log contrast 2.22 vs 2.22) and bounded values (|x| <= 4), whereas per-image
(I - median)/std gave 2.62 and values up to 90.
"fixed" reproduces the EDGSP code's SIRST constants for 8-bit data (16-bit is rescaled to 0..255).
"""

from __future__ import annotations

import numpy as np

SIRST_MEAN = 101.06385040283203
SIRST_STD = 34.619606018066406
NORMALISATIONS = ("robust", "fixed")


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) array of any numeric dtype -> (H, W) float64 raw counts (luminance for colour)."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        rgb = arr[..., :3].astype(np.float64)
        arr = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"image must be (H, W) grey or (H, W, 3|4) colour, got shape {np.shape(image)}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"image dtype {arr.dtype} is not numeric")
    return arr.astype(np.float64)


def robust_range(grey: np.ndarray) -> tuple[float, float]:
    """(q0.01, q99.99) of a grey frame: its range without a few hot or dead pixels."""
    lo, hi = np.quantile(grey, [1e-4, 1.0 - 1e-4])
    return float(lo), float(hi)


def normalise_image(image: np.ndarray, method: str = "robust") -> np.ndarray:
    """Normalise a raw frame (H, W), any numeric dtype, to float32 (H, W)."""
    raw = np.asarray(image)
    grey = to_grey(raw)
    if method == "robust":
        centre = float(np.median(grey))
        lo, hi = robust_range(grey)
        scale = float(hi - lo) / 4.0
        if not np.isfinite(scale) or scale <= 1e-12 * max(1.0, abs(centre)):
            scale = 1.0  # a constant frame: only its offset is removed
        return ((grey - centre) / scale).astype(np.float32)
    if method == "fixed":
        if raw.dtype == np.uint16 or (raw.dtype.kind in "iu" and grey.max(initial=0) > 255):
            grey = grey / 257.0
        return ((grey - SIRST_MEAN) / SIRST_STD).astype(np.float32)
    raise ValueError(f"unknown normalisation {method!r}; choose one of {NORMALISATIONS}")


def pad_to_multiple(array: np.ndarray, stride: int) -> np.ndarray:
    """Pad the last two axes bottom/right by edge replication up to multiples of `stride`.

    Replication (rather than the reference code's zeros) adds no step at the seam for the edge map.
    Crop the network output back with `[..., :h, :w]`.
    """
    h, w = array.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph == 0 and pw == 0:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(array, pad, mode="edge")


def stack_inputs(image_norm: np.ndarray, gaussian: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Stack [normalised image, TEI Gaussian, (prior)] into (C, H, W) float32; the net adds the edges."""
    chans = [image_norm, gaussian] + ([prior] if prior is not None else [])
    shapes = {c.shape for c in chans}
    if len(shapes) != 1:
        raise ValueError(f"input channels differ in shape: {sorted(shapes)}")
    return np.stack([np.asarray(c, dtype=np.float32) for c in chans])
