"""Synthetic IR-like frames with small bright targets (tests, demos) and implanting into real backgrounds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ml.data import Sample
from ml.inputs import robust_range


def _background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    noise = rng.normal(0.0, 1.0, (h, w))
    clutter = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(2.0, min(h, w) / 12))
    clutter = clutter / (clutter.std() + 1e-9)
    ramp = np.linspace(0.0, 1.0, w)[None, :] * rng.uniform(-1, 1)
    return 0.35 + 0.06 * clutter + 0.05 * ramp + 0.01 * rng.normal(0.0, 1.0, (h, w))


def _blob(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, sy: float, sx: float) -> np.ndarray:
    """Elliptical Gaussian with peak 1 at (cy, cx) on the grid (yy, xx)."""
    return np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))


def implant_targets(
    background: np.ndarray,
    rng: np.random.Generator,
    n_targets: int,
    min_gap: int = 6,
    contrast: tuple[float, float] = (0.25, 0.6),
) -> tuple[np.ndarray, np.ndarray]:
    """Add n small elliptical Gaussian targets to a float background in [0, 1].

    Returns (image float64 (H, W), mask bool (H, W)); the mask is where a target exceeds half its
    peak. Targets keep `min_gap` px between their masks, so each is its own 8-connected component.
    """
    img = np.array(background, dtype=np.float64, copy=True)
    h, w = img.shape
    mask = np.zeros((h, w), dtype=bool)
    yy, xx = np.mgrid[0:h, 0:w]
    placed = 0
    for _ in range(50 * max(1, n_targets)):
        if placed == n_targets:
            break
        sy, sx = rng.uniform(0.8, 2.5, size=2)
        cy, cx = rng.uniform(4, h - 5), rng.uniform(4, w - 5)
        blob = _blob(yy, xx, cy, cx, sy, sx)
        region = blob > 0.5
        grown = cv2.dilate(region.astype(np.uint8), np.ones((2 * min_gap + 1,) * 2, np.uint8)) > 0
        if not region.any() or (grown & mask).any():
            continue
        img += rng.uniform(*contrast) * blob
        mask |= region
        placed += 1
    return np.clip(img, 0.0, 1.0), mask


def implant_into_frame(
    raw: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    window: tuple[int, int, int],
    n_targets: int,
    span: float | None = None,
    min_gap: int = 4,
    sigma: tuple[float, float] = (0.7, 3.0),
    contrast: tuple[float, float] = (0.08, 0.5),
    level: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Implant up to n small Gaussian targets into a real frame, inside `window` = (y0, x0, size).

    Why: SIRST train has 256 frames and ~300 targets; new targets on real clutter give the net more
    target/background pairs without new labels. Amplitudes are a share (`contrast`) of the frame's robust
    range `span` (q99.99 - q0.01, computed when not given), so dim and bright targets occur on any bit
    depth. The label is where the blob exceeds `level` of its peak: 0.3 sits where SIRST train's masks end
    (`python bench/mask_levels.py`: their inner boundary pixels are at a median 0.53 of the peak above the
    local background, the pixels just outside at 0.12). A target must stand 3 local sigmas above its patch
    and must not clip an integer frame; new targets keep `min_gap` px from every existing target, so none
    touches a label. Returns (frame of raw's dtype; bool mask with the new targets added).
    """
    raw_arr = np.asarray(raw)
    if raw_arr.ndim != 2:
        raise ValueError("implanting needs a single-channel frame")
    h, w = raw_arr.shape
    y0, x0, size = window
    ys, xs = slice(max(0, y0), min(h, y0 + size)), slice(max(0, x0), min(w, x0 + size))
    if ys.stop - ys.start < 9 or xs.stop - xs.start < 9:
        return raw_arr.copy(), mask.copy()
    out, new_mask = raw_arr.astype(np.float64), mask.copy()
    if span is None:
        lo, hi = robust_range(out)
        span = hi - lo
    span = max(span, 1.0)
    ceiling = float(np.iinfo(raw_arr.dtype).max) if raw_arr.dtype.kind in "iu" else np.inf
    kernel = np.ones((2 * min_gap + 1,) * 2, np.uint8)
    taken = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    placed = 0
    for _ in range(20 * max(1, n_targets)):
        if placed == n_targets:
            break
        sy, sx = rng.uniform(*sigma, size=2)
        cy, cx = rng.uniform(ys.start + 4, ys.stop - 5), rng.uniform(xs.start + 4, xs.stop - 5)
        r = int(np.ceil(4 * max(sy, sx)))
        by = slice(max(0, int(cy) - r), min(h, int(cy) + r + 1))
        bx = slice(max(0, int(cx) - r), min(w, int(cx) + r + 1))
        blob = _blob(*np.mgrid[by, bx], cy, cx, sy, sx)
        region = blob > level
        if not region.any() or taken[by, bx][region].any():
            continue
        patch = out[by, bx]
        # Visible, or it teaches the net to paint any prompt: at least 3 local sigmas, and no clipping.
        amp = max(rng.uniform(*contrast) * span, 3.0 * float(patch.std()))
        if patch.max() + amp > ceiling:
            continue
        out[by, bx] = patch + amp * blob
        new_mask[by, bx] |= region
        # Grow only the box (the dilation reaches min_gap px past it), not the whole frame.
        gy = slice(max(0, by.start - min_gap), min(h, by.stop + min_gap))
        gx = slice(max(0, bx.start - min_gap), min(w, bx.stop + min_gap))
        local = np.zeros((gy.stop - gy.start, gx.stop - gx.start), np.uint8)
        local[by.start - gy.start : by.stop - gy.start, bx.start - gx.start : bx.stop - gx.start] = region
        taken[gy, gx] |= cv2.dilate(local, kernel) > 0
        placed += 1
    if raw_arr.dtype.kind in "iu":
        return np.clip(np.rint(out), np.iinfo(raw_arr.dtype).min, ceiling).astype(raw_arr.dtype), new_mask
    return out.astype(raw_arr.dtype), new_mask


def make_synthetic_sample(
    rng: np.random.Generator, shape: tuple[int, int] = (64, 64), n_targets: int = 2, bit_depth: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """A frame (uint8 or uint16 (H, W)) and its bool target mask (H, W)."""
    img, mask = implant_targets(_background(rng, shape), rng, n_targets)
    if bit_depth == 8:
        return np.rint(img * 255).astype(np.uint8), mask
    if bit_depth == 16:
        return np.rint(img * 65535).astype(np.uint16), mask
    raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")


def make_synthetic_samples(n: int, seed: int = 0, shape: tuple[int, int] = (64, 64)) -> list[Sample]:
    """n synthetic samples with 1-3 targets each, ids syn_000..."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img, mask = make_synthetic_sample(rng, shape, int(rng.integers(1, 4)))
        out.append(Sample(f"syn_{i:03d}", img, mask))
    return out


def write_synthetic_dataset(
    root: str | Path, n_train: int = 8, n_val: int = 4, seed: int = 0, shape: tuple[int, int] = (64, 64)
) -> Path:
    """Write images/, masks/ (0/255 PNG) and splits/{train,val}.txt under `root`; returns root."""
    root = Path(root)
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    samples = make_synthetic_samples(n_train + n_val, seed, shape)
    for s in samples:
        cv2.imwrite(str(root / "images" / f"{s.id}.png"), s.image)
        cv2.imwrite(str(root / "masks" / f"{s.id}.png"), s.mask.astype(np.uint8) * 255)
    (root / "splits" / "train.txt").write_text("\n".join(s.id for s in samples[:n_train]) + "\n")
    (root / "splits" / "val.txt").write_text("\n".join(s.id for s in samples[n_train:]) + "\n")
    return root
