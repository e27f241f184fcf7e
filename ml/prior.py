"""Prior channel: the cold-start mask of the given points, frozen at the settings the weights saw."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ml.coldstart import ColdStartParams, point_prompt_masks


def coldstart_params_from_dict(data: dict[str, Any] | None) -> ColdStartParams:
    """Rebuild ColdStartParams from a checkpoint dict (None -> current defaults)."""
    if not data:
        return ColdStartParams()
    # A checkpoint that predates the size rule was trained on priors made without it.
    data = {"size_alpha_factor": None, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}}
    try:
        return ColdStartParams(**data)
    except TypeError as exc:
        raise ValueError(f"checkpoint cold-start settings do not fit this ml version: {exc}") from exc


def coldstart_params_to_dict(params: ColdStartParams) -> dict[str, Any]:
    """JSON-friendly dict of ColdStartParams."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(params).items()}


def override_coldstart_params(params: ColdStartParams, overrides: Mapping[str, Any] | None) -> ColdStartParams:
    """`params` with `overrides` (ColdStartParams field names) applied; unknown keys raise a ValueError naming them.

    Why: a project calibrates the cold start (alpha, GrabCut, size rule) on its own confirmed masks; the prior
    channel and the BBM fallback of a checkpoint must be able to follow that choice without new weights.
    """
    if not overrides:
        return params
    known = {f.name for f in dataclasses.fields(ColdStartParams)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown cold-start settings {unknown}; known: {sorted(known)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(params, **clean)


def make_prior(image: np.ndarray, points: np.ndarray, params: ColdStartParams | None = None) -> np.ndarray:
    """(H, W) float32 {0, 1}: union of the cold-start instance masks for (N, 2) (x, y) points."""
    h, w = np.shape(image)[:2]
    if len(points) == 0:
        return np.zeros((h, w), dtype=np.float32)
    return point_prompt_masks(image, np.asarray(points, dtype=np.float64), params).union().astype(np.float32)


def prior_fingerprint(params: ColdStartParams | None = None) -> str:
    """Hash of the prior on fixed synthetic frames (centroid and coarse points, two touching targets).

    Stored in shipped checkpoints: if the cold-start code later changes what these settings
    produce, the learned model's 4th input has drifted and a test fails.
    """
    import hashlib

    from ml.points import centroid_points, coarse_points
    from ml.synthetic import make_synthetic_samples

    h = hashlib.sha256()
    rng = np.random.default_rng(0)
    for s in make_synthetic_samples(12, seed=11, shape=(72, 72)):
        for pts in (centroid_points(s.mask), coarse_points(s.mask, rng), centroid_points(s.mask)[:1] + 0.4):
            h.update(np.packbits(make_prior(s.image, pts, params) > 0).tobytes())
    img = np.full((40, 40), 20, np.uint8)
    img[18:22, 15:19] = 200
    img[18:22, 20:24] = 180  # two targets 1 px apart
    h.update(np.packbits(make_prior(img, np.array([[16.0, 19.0], [21.0, 19.0]]), params) > 0).tobytes())
    return h.hexdigest()[:16]
