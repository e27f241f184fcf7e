"""Training batches: crops (target-centred or the paper's 256 positive-biased), prompts, flips/transpose, and
optionally restyled labels with a prior at the style's alpha (prior-following training), synthetic targets or
dense clusters implanted into the real frame, and the frame rendered as another sensor would (photometric)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ml.coldstart import ColdStartParams
from ml.config import ModelConfig, TrainConfig
from ml.data import Sample
from ml.inputs import normalise_image, robust_range, to_grey
from ml.photometric import render
from ml.points import PointCells, centroid_points, coarse_points, jitter_points, label_components, point_cells
from ml.prior import make_prior
from ml.prompts import make_gaussian_map
from ml.styles import ALPHA_JITTER, STYLES, distinct_styles, restyle_mask, style_alpha_table
from ml.synthetic import implant_cluster, implant_into_frame


@dataclass
class TrainItem:
    """A training frame prepared once: raw image, normalised image, bool mask, crop centres, range, clicks.

    `centroids` places target crops: the mask's component centroids, or the clicks (and the centroids of
    components nobody clicked) when the sample has points; `cells` then holds each click's share of the mask.
    """

    raw: np.ndarray
    norm: np.ndarray
    mask: np.ndarray
    centroids: np.ndarray  # (K, 2) float (x, y) component centroids (or the clicks)
    span: float  # robust range q99.99 - q0.01 of the grey frame (scales implanted targets)
    cells: PointCells | None = None
    styled: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # restyled masks, made on first use

    def label(self, d: int) -> np.ndarray:
        """The mask with every target dilated by d px (eroded for d < 0); cached, as styles repeat."""
        if d not in self.styled:
            self.styled[d] = restyle_mask(self.mask, d)
        return self.styled[d]

    def prompts(self) -> np.ndarray:
        """(K, 2) float (x, y) centroid-mode prompts: the clicks when there are some, else floored centroids."""
        return self.cells.points.copy() if self.cells is not None else centroid_points(self.mask)


def prepare_items(samples: list[Sample], model_config: ModelConfig) -> list[TrainItem]:
    """Normalise every frame with the model's normalisation (done once, on the whole frame)."""
    items = []
    for s in samples:
        if s.mask is None:
            raise ValueError(f"sample {s.id} has no mask; training needs masks")
        lo, hi = robust_range(to_grey(np.asarray(s.image)))
        norm = normalise_image(s.image, model_config.normalisation)
        if s.points is None:
            _, _, _, cents = label_components(s.mask)
            items.append(TrainItem(s.image, norm, s.mask, cents, hi - lo))
            continue
        try:
            cells = point_cells(s.mask, s.points)
        except ValueError as exc:
            raise ValueError(f"sample {s.id}: {exc}") from exc
        items.append(TrainItem(s.image, norm, s.mask, cells.points, hi - lo, cells))
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


def style_table_for(items: list[TrainItem], coldstart: ColdStartParams | None) -> dict[str, float]:
    """The style -> alpha table of `ml.styles.style_alpha_table` on training items (their centroid-mode prompts)."""
    return style_alpha_table(((it.raw, it.prompts(), it.mask) for it in items), coldstart)


class BatchSampler:
    """Draws (inputs (B, C, S, S), targets (B, 1, S, S)) float32 batches with a numpy Generator.

    With `train_config.prior_style_prob` > 0, that share of samples gets a label style and a prior made at the
    style's alpha from `style_alphas` (computed from the items when not given); only the styles the prior can
    tell apart are drawn (`self.styles`, see `ml.styles.distinct_styles`).
    """

    def __init__(
        self,
        items: list[TrainItem],
        train_config: TrainConfig,
        model_config: ModelConfig,
        coldstart: ColdStartParams | None,
        rng: np.random.Generator,
        style_alphas: dict[str, float] | None = None,
    ) -> None:
        if not items:
            raise ValueError("no training samples")
        self.items, self.tc, self.mc, self.cold, self.rng = items, train_config, model_config, coldstart, rng
        if not 0.0 <= train_config.prior_style_prob <= 1.0:
            raise ValueError(f"prior_style_prob must be within [0, 1], got {train_config.prior_style_prob}")
        if train_config.prior_style_prob > 0 and not model_config.prior:
            raise ValueError("prior_style_prob needs a model with the prior channel")
        self.style_alphas: dict[str, float] | None = None
        if train_config.prior_style_prob > 0:
            self.style_alphas = dict(style_alphas) if style_alphas else style_table_for(items, coldstart)
            missing = sorted(set(STYLES) - set(self.style_alphas))
            if missing:
                raise ValueError(f"style_alphas lacks the styles {missing}")
        default_alpha = (coldstart or ColdStartParams()).alpha
        self.styles = distinct_styles(self.style_alphas, default_alpha) if self.style_alphas else []
        if self.style_alphas is not None and not self.styles:
            raise ValueError(f"no style the prior can express: {self.style_alphas} around alpha {default_alpha}")
        self.size = train_config.crop_size if train_config.crop_mode == "target" else 256
        if train_config.crop_mode not in ("target", "paper"):
            raise ValueError(f"unknown crop_mode {train_config.crop_mode!r}; choose 'target' or 'paper'")
        for name in ("implant_prob", "cluster_prob", "photometric_prob"):
            if not 0.0 <= getattr(train_config, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(train_config, name)}")
        lo, hi = train_config.cluster_targets
        if not 1 <= lo <= hi:
            raise ValueError(f"cluster_targets must be (low, high) with 1 <= low <= high, got {(lo, hi)}")
        if self.size % model_config.stride:
            raise ValueError(f"crop size {self.size} must be a multiple of the net stride {model_config.stride}")

    def _points(self, item: TrainItem) -> np.ndarray:
        if self.rng.random() < self.tc.coarse_point_prob:
            return coarse_points(item.mask, self.rng) if item.cells is None else jitter_points(item.cells, self.rng)
        return item.prompts()

    def _style(self) -> tuple[int, float] | None:
        """(pixels to dilate, prior alpha) for a styled sample, None for an unstyled one."""
        if self.rng.random() >= self.tc.prior_style_prob:
            return None
        assert self.style_alphas is not None
        name = self.styles[int(self.rng.integers(len(self.styles)))]
        return STYLES[name], self.style_alphas[name] * float(self.rng.uniform(1 - ALPHA_JITTER, 1 + ALPHA_JITTER))

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
        # With clicks, the implanted targets are components nobody clicked: point_cells prompts their centroids.
        cells = None if item.cells is None else point_cells(mask, item.cells.points)
        new = TrainItem(raw, normalise_image(raw, self.mc.normalisation), mask, item.centroids, item.span, cells)
        return new, self._points(new)

    def _clustered(self, item: TrainItem) -> tuple[TrainItem, np.ndarray, tuple[int, int]]:
        """The frame with one dense cluster of touching targets (2-30, `cluster_targets`) implanted, its prompts
        (the frame's own and one per cluster target) and a crop origin around the cluster.

        Why: SIRST's targets rarely touch, and a net trained on it draws small masks in clusters, where a team
        needs help most. The cluster's instances touch as drawn (no 1-px gap), like a team's dense masks.
        """
        lo, hi = self.tc.cluster_targets
        n = int(self.rng.integers(lo, hi + 1))
        raw, labels, cluster_points = implant_cluster(to_grey(item.raw), self.rng, n, item.span, avoid=item.mask)
        mask = item.mask | (labels > 0)
        pts = np.concatenate([self._points(item), cluster_points])
        cells = None if item.cells is None else point_cells(mask, np.concatenate([item.cells.points, cluster_points]))
        new = TrainItem(raw, normalise_image(raw, self.mc.normalisation), mask, pts, item.span, cells)
        h, w = mask.shape
        centre = cluster_points.mean(axis=0) if len(cluster_points) else None
        cy, cx = (None, None) if centre is None else (float(centre[1]), float(centre[0]))
        return new, pts, (_window(h, self.size, cy, self.rng), _window(w, self.size, cx, self.rng))

    def _rendered(self, item: TrainItem) -> TrainItem:
        """The frame as another sensor would digitise it (ml.photometric), renormalised as a whole frame."""
        raw = render(item.raw, self.rng)
        return TrainItem(
            raw, normalise_image(raw, self.mc.normalisation), item.mask, item.centroids, item.span, item.cells
        )

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """One sample: inputs (C, S, S) and target (1, S, S)."""
        item = self.items[int(self.rng.integers(len(self.items)))]
        # Drawn only when implanting is on, so runs without it keep their random stream (and resume).
        implant = self.tc.implant_prob > 0 and self.rng.random() < self.tc.implant_prob
        style = self._style() if self.tc.prior_style_prob > 0 else None  # likewise
        cluster = self.tc.cluster_prob > 0 and self.rng.random() < self.tc.cluster_prob  # likewise
        photo = self.tc.photometric_prob > 0 and self.rng.random() < self.tc.photometric_prob  # likewise
        s = self.size
        if cluster:
            item, pts, (y0, x0) = self._clustered(item)
        else:
            pts = None if implant else self._points(item)
            y0, x0 = self._origin(item)
            if implant:
                item, pts = self._implanted(item, (y0, x0, s))
        if photo:
            item = self._rendered(item)
        chans = [_crop(item.norm, y0, x0, s, "edge"), make_gaussian_map(pts - np.array([x0, y0]), (s, s), self.mc.fwhm)]
        cold, label = self.cold, item.mask
        if style is not None:
            label = item.label(style[0])
            cold = dataclasses.replace(self.cold or ColdStartParams(), alpha=style[1])
        if self.mc.prior:
            chans.append(_crop(make_prior(item.raw, pts, cold), y0, x0, s, "constant"))
        x = np.stack(chans).astype(np.float32)
        y = _crop(label.astype(np.float32), y0, x0, s, "constant")[None]
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
