"""Training-free small-target detector: multiscale local contrast, an adaptive threshold and non-max suppression.

It proposes candidate target points on a frame nobody has clicked yet (the app shows them as unconfirmed
suggestions). A point prompt has nothing to say about a frame with no points, so EDGSP cannot propose them; this
detector can, on any sensor, without training. Defaults were chosen on SIRST v1 train only (bench/detector.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.coldstart import to_gray


@dataclass(frozen=True)
class DetectorParams:
    """Knobs of `detect_targets`; the defaults are the SIRST-train choice (bench/reports/detector.md).

    The contrast at a pixel and scale s is the patch-based contrast measure (MPCM, Wei et al. 2016): the mean of
    the s x s cell centred there minus the means of its 8 neighbouring cells, the product of opposite
    differences, its minimum over the 4 directions (a bright blob stands out on every side; an edge does not).
    The map is the maximum over `scales`, in units of the frame's pixel noise (`noise_level`, so one threshold
    suits 8- and 16-bit frames and quiet or noisy sensors). Candidates are local maxima at least `k` noise levels
    high, `nms_radius` px apart, the `max_candidates` strongest kept.
    """

    scales: tuple[int, ...] = (3, 5, 7)
    k: float = 7.0
    nms_radius: int = 4
    max_candidates: int = 5
    polarity: str = "bright"  # "bright" | "dark" | "both"
    border: int = 2  # no candidate this close to the frame's edge (a cell there sees outside the frame)


@dataclass
class Detections:
    """Candidates, strongest first: points (N, 2) float64 in (x, y) pixel units (0 is the first pixel's centre)
    and scores (N,) float64 (the contrast in units of the frame's pixel noise)."""

    points: np.ndarray
    scores: np.ndarray


def contrast_map(image: np.ndarray, scales: tuple[int, ...], polarity: str = "bright") -> np.ndarray:
    """The multiscale contrast (MPCM) of a grey (H, W) or RGB (H, W, 3) frame, float64 (H, W), >= 0.

    Args:
        image: raw radiometric values, any dtype.
        scales: odd cell sizes in px (3 suits a 2-3 px target, 9 a 9 px one).
        polarity: "bright" (hot targets), "dark" (cold ones) or "both".
    """
    if polarity not in ("bright", "dark", "both"):
        raise ValueError(f"polarity must be bright, dark or both, got {polarity!r}")
    if not scales or any(int(s) < 1 for s in scales):
        raise ValueError(f"scales must be positive cell sizes, got {scales}")
    gray = to_gray(image).astype(np.float32)
    out = np.zeros(gray.shape, dtype=np.float32)
    for s in scales:
        mean = cv2.blur(gray, (int(s), int(s)), borderType=cv2.BORDER_REFLECT)
        for sign in _signs(polarity):
            least = None  # the running minimum over the 4 directions: a few frame-sized arrays, even for big frames
            for dy, dx in _DIRECTIONS:
                a = sign * (mean - _shifted(mean, dy * s, dx * s))
                b = sign * (mean - _shifted(mean, -dy * s, -dx * s))
                # Both sides of each direction must be lower: a negative difference zeroes the pair.
                pair = np.where((a > 0) & (b > 0), a * b, np.float32(0.0))
                least = pair if least is None else np.minimum(least, pair)
            np.maximum(out, least, out=out)
    return np.sqrt(out.astype(np.float64))  # grey-level units again: a product of two differences is squared


_DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, 1)]  # each with its opposite (-dy, -dx): the 8 neighbouring cells


def _signs(polarity: str) -> tuple[float, ...]:
    return {"bright": (1.0,), "dark": (-1.0,), "both": (1.0, -1.0)}[polarity]


def _shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[y + dy, x + dx] at (y, x), edges replicated."""
    h, w = a.shape
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return a[np.ix_(ys, xs)]


def robust_spread(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: a Gaussian's sigma, blind to the few target pixels (0 when flat)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    return float(1.4826 * np.median(np.abs(v - np.median(v)))) if v.size else 0.0


def noise_level(image: np.ndarray) -> float:
    """The frame's pixel noise: the robust spread of its high-pass part (minus a 9 x 9 mean), floored at 1e-3 of
    its dynamic range so that a clean synthetic frame still has a finite scale."""
    gray = to_gray(image).astype(np.float32)
    high = gray - cv2.blur(gray, (9, 9), borderType=cv2.BORDER_REFLECT)
    lo, hi = np.percentile(gray, [1, 99]) if gray.size else (0.0, 0.0)
    return max(robust_spread(high), 1e-3 * float(hi - lo), 1e-6)


def detect_targets(image: np.ndarray, params: DetectorParams | None = None) -> Detections:
    """Candidate small targets of one frame, strongest first (see DetectorParams for the method).

    Args:
        image: grey (H, W) or RGB (H, W, 3) raw values, any dtype.

    Returns:
        Detections with points (N, 2) in (x, y) order, N <= params.max_candidates, scores >= params.k.
    """
    params = params or DetectorParams()
    if params.nms_radius < 0 or params.max_candidates < 0:
        raise ValueError("nms_radius and max_candidates must be >= 0")
    score = (contrast_map(image, params.scales, params.polarity) / noise_level(image)).astype(np.float32)
    size = 2 * params.nms_radius + 1
    # float32 on both sides of the comparison: a float64 map against its float32 dilation loses half its peaks.
    peaks = (score >= cv2.dilate(score, np.ones((size, size), np.uint8))) & (score >= params.k) & (score > 0)
    b = params.border
    if b > 0:
        peaks[:b, :], peaks[-b:, :], peaks[:, :b], peaks[:, -b:] = False, False, False, False
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-score[ys, xs], kind="stable")
    points, scores = _suppress(xs[order], ys[order], score[ys, xs][order], params)
    return Detections(points=points, scores=scores)


def _suppress(xs: np.ndarray, ys: np.ndarray, scores: np.ndarray, params: DetectorParams) -> tuple[np.ndarray, ...]:
    """Greedy NMS on sorted peaks: a plateau's equal maxima, or peaks closer than nms_radius, keep one."""
    kept: list[int] = []
    r2 = params.nms_radius**2
    for i in range(len(xs)):
        if len(kept) >= params.max_candidates:
            break
        if all((xs[i] - xs[j]) ** 2 + (ys[i] - ys[j]) ** 2 > r2 for j in kept):
            kept.append(i)
    points = np.stack([xs[kept], ys[kept]], axis=1).astype(np.float64) if kept else np.zeros((0, 2))
    return points.reshape(-1, 2), np.asarray(scores[kept], dtype=np.float64)
