"""Training batches: crops (target-centred or the paper's 256 positive-biased), prompts, flips/transpose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.coldstart import ColdStartParams
from ml.config import ModelConfig, TrainConfig
from ml.data import Sample
from ml.inputs import normalise_image, robust_range, to_grey
from ml.points import centroid_points, coarse_points, label_components
from ml.prior import make_prior
from ml.prompts import make_gaussian_map
from ml.synthetic import implant_into_frame


@dataclass
class TrainItem:
    """A training frame prepared once: raw image, normalised image, bool mask, component centroids, range."""

    raw: np.ndarray
    norm: np.ndarray
    mask: np.ndarray
    centroids: np.ndarray  # (K, 2) float (x, y) component centroids
    span: float  # robust range q99.99 - q0.01 of the grey frame (scales implanted targets)


def prepare_items(samples: list[Sample], model_config: ModelConfig) -> list[TrainItem]:
    """Normalise every frame with the model's normalisation (done once, on the whole frame)."""
    items = []
    for s in samples:
        if s.mask is None:
            raise ValueError(f"sample {s.id} has no mask; training needs masks")
        _, _, _, cents = label_components(s.mask)
        lo, hi = robust_range(to_grey(np.asarray(s.image)))
        items.append(TrainItem(s.image, normalise_image(s.image, model_config.normalisation), s.mask, cents, hi - lo))
    return items


def _window(length: int, size: int, centre: float | None, rng: np.random.Generator) -> int:
    """Start of a window of `size` on an axis of `length` (may exceed it: padded later)."""
    if length <= size:
        return 0
    if centre is None:
        return int(rng.integers(0, length - size + 1))
    start = int(round(centre - size / 2 + rng.uniform(-size / 3, size / 3)))
    return int(np.clip(start, 0, length - size))


def _crop(arr: np.ndarray, y0: int, x0: int, size: int, mode: str) -> np.ndarray:
    win = arr[y0 : y0 + size, x0 : x0 + size]
    ph, pw = size - win.shape[0], size - win.shape[1]
    if ph or pw:
        win = np.pad(win, [(0, ph), (0, pw)], mode=mode)
    return win


class BatchSampler:
    """Draws (inputs (B, C, S, S), targets (B, 1, S, S)) float32 batches with a numpy Generator."""

    def __init__(
        self,
        items: list[TrainItem],
        train_config: TrainConfig,
        model_config: ModelConfig,
        coldstart: ColdStartParams | None,
        rng: np.random.Generator,
    ) -> None:
        if not items:
            raise ValueError("no training samples")
        self.items, self.tc, self.mc, self.cold, self.rng = items, train_config, model_config, coldstart, rng
        self.size = train_config.crop_size if train_config.crop_mode == "target" else 256
        if train_config.crop_mode not in ("target", "paper"):
            raise ValueError(f"unknown crop_mode {train_config.crop_mode!r}; choose 'target' or 'paper'")
        if not 0.0 <= train_config.implant_prob <= 1.0:
            raise ValueError(f"implant_prob must be within [0, 1], got {train_config.implant_prob}")
        if self.size % model_config.stride:
            raise ValueError(f"crop size {self.size} must be a multiple of the net stride {model_config.stride}")

    def _points(self, item: TrainItem) -> np.ndarray:
        if self.rng.random() < self.tc.coarse_point_prob:
            return coarse_points(item.mask, self.rng)
        return centroid_points(item.mask)

    def _origin(self, item: TrainItem) -> tuple[int, int]:
        h, w = item.mask.shape
        s, rng = self.size, self.rng
        if self.tc.crop_mode == "target":
            if len(item.centroids) and rng.random() >= self.tc.random_crop_prob:
                cx, cy = item.centroids[rng.integers(len(item.centroids))]
                return _window(h, s, cy, rng), _window(w, s, cx, rng)
            return _window(h, s, None, rng), _window(w, s, None, rng)
        # The paper's rule: accept a uniform window with prob 0.5, else only if it holds GT pixels.
        for _ in range(100):
            y0, x0 = _window(h, s, None, rng), _window(w, s, None, rng)
            if rng.random() > 0.5 or item.mask[y0 : y0 + s, x0 : x0 + s].any():
                break
        return y0, x0

    def _implanted(self, item: TrainItem, window: tuple[int, int, int]) -> tuple[TrainItem, np.ndarray]:
        """The frame with 1-3 synthetic targets added in the crop window, renormalised, and its new prompts.

        The frame's statistics change with the new targets, so it is normalised again as a whole frame,
        exactly as inference would normalise it. (Centroids only place crops: this crop is placed already.)
        """
        n = int(self.rng.integers(1, 4))
        raw, mask = implant_into_frame(item.raw, item.mask, self.rng, window, n, item.span)
        new = TrainItem(raw, normalise_image(raw, self.mc.normalisation), mask, item.centroids, item.span)
        return new, self._points(new)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """One sample: inputs (C, S, S) and target (1, S, S)."""
        item = self.items[int(self.rng.integers(len(self.items)))]
        # Drawn only when implanting is on, so runs without it keep their random stream (and resume).
        implant = self.tc.implant_prob > 0 and self.rng.random() < self.tc.implant_prob
        pts = None if implant else self._points(item)
        y0, x0 = self._origin(item)
        s = self.size
        if implant:
            item, pts = self._implanted(item, (y0, x0, s))
        chans = [_crop(item.norm, y0, x0, s, "edge"), make_gaussian_map(pts - np.array([x0, y0]), (s, s), self.mc.fwhm)]
        if self.mc.prior:
            chans.append(_crop(make_prior(item.raw, pts, self.cold), y0, x0, s, "constant"))
        x = np.stack(chans).astype(np.float32)
        y = _crop(item.mask.astype(np.float32), y0, x0, s, "constant")[None]
        if self.rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if self.rng.random() < 0.5:
            x, y = x[:, :, ::-1], y[:, :, ::-1]
        if self.rng.random() < 0.5:
            x, y = x.transpose(0, 2, 1), y.transpose(0, 2, 1)
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = zip(*(self.draw() for _ in range(self.tc.batch_size)), strict=True)
        return np.stack(xs), np.stack(ys)
