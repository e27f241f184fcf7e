"""Photometric augmentation: the same scene as another sensor would digitise it.

Why: SIRST frames are 8-bit, lightly blurred and quantised in 256 steps; a net trained on them alone learns that
look, and frames from other sensors (16-bit, other optics, other noise, fixed-pattern stripes) score lower. The
labels do not move: only how the scene is rendered changes. Gain and offset are drawn too, although the robust
normalisation removes them, because they set where quantisation and clipping fall.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.inputs import robust_range, to_grey


@dataclass(frozen=True)
class Photometric:
    """Ranges the rendering is drawn from (each frame draws its own values)."""

    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # optics / motion softer than SIRST's
    gamma: tuple[float, float] = (0.7, 1.5)  # detector response, applied on the frame's robust range
    noise: tuple[float, float] = (0.0, 0.02)  # Gaussian noise sd, share of the frame's robust range
    stripe_prob: float = 0.3
    stripe: tuple[float, float] = (0.0, 0.01)  # column (or row) offsets sd, share of the range: fixed pattern
    levels: tuple[float, float] = (200.0, 20000.0)  # grey levels the robust range spans after digitising
    sixteen_bit_prob: float = 0.7  # else the frame is digitised back to 8 bits


def render(raw: np.ndarray, rng: np.random.Generator, spec: Photometric | None = None) -> np.ndarray:
    """The frame (H, W) as another sensor would give it: uint16 (or uint8), blurred, bent, noisy, re-quantised.

    The scene's geometry is unchanged, so a frame's masks and points stay valid. `rng` is the only randomness.
    """
    spec = spec or Photometric()
    grey = to_grey(np.asarray(raw)).astype(np.float64)
    if grey.ndim != 2 or grey.size == 0:
        raise ValueError(f"photometric augmentation needs a non-empty (H, W) frame, got shape {grey.shape}")
    lo, hi = robust_range(grey)
    span = max(float(hi - lo), 1e-6)
    x = (grey - lo) / span  # about [0, 1] on the robust range
    if rng.random() < spec.blur_prob:
        sigma = float(rng.uniform(*spec.blur_sigma))
        x = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    gamma = float(rng.uniform(*spec.gamma))
    x = np.sign(x) * np.abs(x) ** gamma  # monotone: bright targets stay brighter than their background
    x = x + rng.normal(0.0, float(rng.uniform(*spec.noise)), size=x.shape)
    if rng.random() < spec.stripe_prob:
        sd = float(rng.uniform(*spec.stripe))
        axis = int(rng.integers(2))
        offsets = rng.normal(0.0, sd, size=x.shape[1 - axis])
        x = x + (offsets[None, :] if axis == 0 else offsets[:, None])
    sixteen = rng.random() < spec.sixteen_bit_prob
    top = 65535.0 if sixteen else 255.0
    levels = float(rng.uniform(*spec.levels)) if sixteen else float(rng.uniform(150.0, 250.0))
    base = float(rng.uniform(0.0, max(top - 1.2 * levels, 0.0)))
    out = np.clip(np.rint(base + levels * x), 0, top)
    return out.astype(np.uint16 if sixteen else np.uint8)
