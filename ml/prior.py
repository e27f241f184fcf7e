"""Prior channel: the cold-start mask of the given points, frozen at the settings the weights saw."""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.coldstart import ColdStartParams, point_prompt_masks


def coldstart_params_from_dict(data: dict[str, Any] | None) -> ColdStartParams:
    """Rebuild ColdStartParams from a checkpoint dict (None -> current defaults)."""
    if not data:
        return ColdStartParams()
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return ColdStartParams(**data)
    except TypeError as exc:
        raise ValueError(f"checkpoint cold-start settings do not fit this ml version: {exc}") from exc


def coldstart_params_to_dict(params: ColdStartParams) -> dict[str, Any]:
    """JSON-friendly dict of ColdStartParams."""
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}


def make_prior(image: np.ndarray, points: np.ndarray, params: ColdStartParams | None = None) -> np.ndarray:
    """(H, W) float32 {0, 1}: union of the cold-start instance masks for (N, 2) (x, y) points."""
    h, w = np.shape(image)[:2]
    if len(points) == 0:
        return np.zeros((h, w), dtype=np.float32)
    return point_prompt_masks(image, np.asarray(points, dtype=np.float64), params).union().astype(np.float32)
