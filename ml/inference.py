"""Warm predictors: EDGSP (learned) and cold start, image + points -> per-target instance masks."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.coldstart import ColdStartResult, point_prompt_masks
from ml.config import ModelConfig
from ml.inputs import normalise_image, stack_inputs
from ml.models import EDGSPNet
from ml.postprocess import InstanceResult, bbm_instances
from ml.prior import coldstart_params_from_dict, override_coldstart_params
from ml.prompts import check_points_inside, make_gaussian_map

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "edgsp_small.pt"


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """One of the 8 flips/transposes of the last two axes (k in 0..7), or its inverse."""
    ops = [lambda t: t.transpose(-1, -2)] if k & 4 else []
    if k & 1:
        ops.append(lambda t: t.flip(-1))
    if k & 2:
        ops.append(lambda t: t.flip(-2))
    for op in reversed(ops) if inverse else ops:
        x = op(x)
    return x


class Predictor:
    """EDGSP predictor kept warm in a process.

    Example:
        >>> p = Predictor.load("ml/weights/edgsp_small.pt")
        >>> res = p.predict(image, np.array([[12.0, 30.0]]))   # (x, y) points
        >>> res.masks[0], res.fallback[0], res.adhesion[0]
    """

    def __init__(self, model: EDGSPNet, device: str | torch.device = "auto", meta: dict[str, Any] | None = None):
        self.device = resolve_device(device) if isinstance(device, str) else device
        # channels_last: about 1.3-2x faster convolutions on CPU for these small nets.
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        self.config: ModelConfig = model.config
        self.meta = meta or {}
        self.coldstart_params = coldstart_params_from_dict(self.config.coldstart_params)
        self.coldstart_overrides: dict[str, Any] = {}  # applied on top of the checkpoint's frozen settings
        # Threshold chosen on the training selection split (meta "infer"), else the paper's 0.5.
        self.threshold = float(self.meta.get("infer", {}).get("threshold", 0.5))
        self.tta = bool(self.meta.get("infer", {}).get("tta", False))

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "auto") -> Predictor:
        """Load a checkpoint (default: the shipped small weights). Raises ValueError for a bad file."""
        from ml.checkpoints import load_checkpoint

        model, payload = load_checkpoint(path or DEFAULT_WEIGHTS)
        return cls(model, device, payload.get("meta", {}))

    def with_coldstart(self, overrides: Mapping[str, Any]) -> Predictor:
        """A predictor sharing this net (no weight copy) whose prior channel and BBM fallback use the
        checkpoint's ColdStartParams with `overrides` (ColdStartParams field names) applied.

        Why: a project calibrates the cold start on its confirmed masks (e.g. a lower alpha for annotators who
        draw wide); a net trained to follow its prior (meta `prior_follows_alpha`) then draws masks in that
        style. Cheap enough per request. Unknown keys raise ValueError; `self` is left untouched; `version`
        is unchanged, so a cache keyed on predictions should add `coldstart_overrides`.
        """
        params = override_coldstart_params(self.coldstart_params, overrides)
        other = copy.copy(self)
        other.coldstart_params = params
        other.coldstart_overrides = {**self.coldstart_overrides, **dict(overrides)}
        return other

    @property
    def version(self) -> str:
        """A string naming these weights (for caching predictions per model version)."""
        return str(self.meta.get("model_version", f"edgsp-{self.config.size}"))

    def _inputs(self, image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, ColdStartResult | None]:
        h, w = image.shape[:2]
        gauss = make_gaussian_map(points, (h, w), self.config.fwhm)
        cold = None
        prior = None
        if self.config.prior:
            cold = point_prompt_masks(image, points, self.coldstart_params)
            prior = cold.union().astype(np.float32)
        return stack_inputs(normalise_image(image, self.config.normalisation), gauss, prior), cold

    @torch.inference_mode()
    def _forward(self, batch: np.ndarray, tta: bool) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
        if not tta:
            return torch.sigmoid(self.model(x)).squeeze(1).cpu().numpy()
        acc = torch.zeros_like(x[:, :1])
        for k in range(8):
            acc += _dihedral(torch.sigmoid(self.model(_dihedral(x, k))), k, inverse=True)
        return (acc / 8).squeeze(1).cpu().numpy()

    def predict_batch(
        self,
        images: list[np.ndarray],
        points: list[np.ndarray],
        threshold: float | None = None,
        tta: bool | None = None,
        bbm: bool = True,
        names: list[str] | None = None,
        gaps: bool = True,
    ) -> list[InstanceResult]:
        """Predict many images in one padded batch (fast on GPU); see `predict` for the arguments."""
        if len(images) != len(points):
            raise ValueError(f"{len(images)} images but {len(points)} point lists")
        if not images:
            return []
        threshold = self.threshold if threshold is None else float(threshold)
        tta = self.tta if tta is None else bool(tta)
        names = names or [f"image {i}" for i in range(len(images))]
        prepared = []
        for img, pts, name in zip(images, points, names, strict=True):
            img = np.asarray(img)
            if img.ndim != 2 or min(img.shape) < 1:
                raise ValueError(f"{name}: image must be a non-empty (H, W) array, got shape {img.shape}")
            if img.dtype.kind == "f" and not np.isfinite(img).all():
                raise ValueError(f"{name}: image contains NaN or infinite values")
            pts = check_points_inside(pts, img.shape, name)
            prepared.append((img, pts, *self._inputs(img, pts)))
        # Batch only frames of one padded size, so a frame's result never depends on its batch-mates.
        s = self.config.stride
        groups: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(prepared):
            h, w = p[2].shape[1:]
            groups.setdefault((h + (-h) % s, w + (-w) % s), []).append(i)
        probs: list[np.ndarray | None] = [None] * len(prepared)
        for (hh, ww), idx in groups.items():
            chunk = [prepared[i][2] for i in idx]
            batch = np.stack(
                [np.pad(c, [(0, 0), (0, hh - c.shape[1]), (0, ww - c.shape[2])], mode="edge") for c in chunk]
            )
            for i, prob in zip(idx, self._forward(batch, tta), strict=True):
                probs[i] = prob
        out = []
        for (img, pts, _, cold), prob in zip(prepared, probs, strict=True):
            prob = prob[: img.shape[0], : img.shape[1]]
            out.append(self._postprocess(img, pts, prob, threshold, bbm, cold, gaps))
        return out

    def _postprocess(self, img, pts, prob, threshold, bbm, cold, gaps) -> InstanceResult:  # noqa: ANN001
        if not bbm:
            # Raw thresholded map as one "instance" (for with/without-BBM evaluation only).
            mask = prob > threshold if len(pts) else np.zeros(prob.shape, dtype=bool)
            return InstanceResult([mask], [False], [False], mask.shape, prob)
        state: dict[str, ColdStartResult | None] = {"cold": cold}

        def fallback(i: int) -> np.ndarray:
            if state["cold"] is None:
                state["cold"] = point_prompt_masks(img, pts, self.coldstart_params)
            return state["cold"].masks[i]

        res = bbm_instances(prob, pts, threshold, fallback, gaps=gaps)
        res.prob = prob
        return res

    def predict(
        self,
        image: np.ndarray,
        points: np.ndarray,
        threshold: float | None = None,
        tta: bool | None = None,
        bbm: bool = True,
        name: str = "image",
        gaps: bool = True,
    ) -> InstanceResult:
        """Segment the targets marked by `points`.

        Args:
            image: (H, W) raw frame, any numeric dtype (8/16-bit, float), any size.
            points: (N, 2) float (x, y) pixel coordinates, x = column, y = row, (0, 0) = centre of the
                top-left pixel; one point per target. Empty -> no masks.
            threshold: probability threshold (None: the checkpoint's chosen one, default 0.5).
            tta: average the 8 flips/transposes (about 8x slower); None: the checkpoint's choice.
            bbm: apply BBM (instances + flags); False returns one raw thresholded mask (for evaluation).
            name: used in error messages (e.g. the image id).
            gaps: open a 1-px gap where split instances touch (False: they may touch; `bbm_instances`).

        Returns:
            InstanceResult: `.masks` bool (H, W) per point in input order, `.fallback`, `.adhesion`
            flags per point, `.union()`, and `.prob` the (H, W) float32 probability map.
        """
        return self.predict_batch([image], [points], threshold, tta, bbm, [name], gaps)[0]


class ColdStartPredictor:
    """The training-free method behind the same `predict` interface (no adhesion splitting flags)."""

    version = "coldstart"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = coldstart_params_from_dict(params)

    def predict(self, image: np.ndarray, points: np.ndarray, name: str = "image", **_: Any) -> InstanceResult:
        """Cold-start masks for (N, 2) (x, y) points on a (H, W) image."""
        image = np.asarray(image)
        pts = check_points_inside(points, image.shape[:2], name)
        cold = point_prompt_masks(image, pts, self.params)
        return InstanceResult(cold.masks, list(cold.fallback), [False] * len(pts), image.shape[:2])
