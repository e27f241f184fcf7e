"""The only door from the web app into ml/: arrays in, instance masks out; warm models cached per process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COLDSTART = "coldstart"
EDGSP = "edgsp"


@dataclass(frozen=True)
class GeneratorSpec:
    """Which generator makes a project's masks: the cold start, or EDGSP with a given checkpoint."""

    method: str = COLDSTART
    alpha: float = 0.35
    use_grabcut: bool = True
    checkpoint: str = ""
    model_version_id: int | None = None
    device: str = "cpu"


@dataclass
class GenerationOutput:
    masks: list[np.ndarray]  # one bool (H, W) instance mask per point, in input order
    fallback: list[bool]
    adhesion: list[bool]
    generator: str
    model_seconds: float
    params: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_predictors: dict[tuple[str, str], Any] = {}
_threads_set = False


def configure_torch(threads: int) -> None:
    """One torch thread setting per process (called once when a worker process starts)."""
    global _threads_set
    if _threads_set:
        return
    import torch

    torch.set_num_threads(max(1, threads))
    _threads_set = True


def _predictor(checkpoint: str, device: str) -> Any:
    """Load a checkpoint once per process; a newly promoted version has a new path and loads fresh."""
    from ml.inference import Predictor

    key = (checkpoint, device)
    with _lock:
        predictor = _predictors.get(key)
        if predictor is None:
            predictor = Predictor.load(checkpoint, device=device)
            _predictors.clear()  # keep one warm model per process: the serving one
            _predictors[key] = predictor
    return predictor


def shipped_weights() -> Path | None:
    """The base weights committed in ml/weights/, if present."""
    from ml.inference import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.is_file() else None


def generate_masks(
    pixels: np.ndarray, points: np.ndarray, spec: GeneratorSpec, tightness: list[float | None] | None = None
) -> GenerationOutput:
    """Instance masks for every point (x, y) of one image, with the flags the reviewer needs."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    start = time.perf_counter()
    if spec.method == EDGSP and spec.checkpoint:
        result = _predictor(spec.checkpoint, spec.device).predict(pixels, points)
        masks = [np.asarray(m, dtype=bool) for m in result.masks]
        fallback = [bool(f) for f in result.fallback]
        adhesion = [bool(a) for a in result.adhesion]
        params = {"checkpoint": Path(spec.checkpoint).name, "device": spec.device}
    else:
        from ml.coldstart import ColdStartParams, point_prompt_masks

        params_obj = ColdStartParams(alpha=spec.alpha, use_grabcut=spec.use_grabcut)
        result = point_prompt_masks(pixels, points, params_obj, alphas=tightness)
        masks = [np.asarray(m, dtype=bool) for m in result.masks]
        fallback = [bool(f) for f in result.fallback]
        adhesion = [False] * len(masks)
        params = {"alpha": spec.alpha, "use_grabcut": spec.use_grabcut}
    seconds = time.perf_counter() - start
    return GenerationOutput(masks, fallback, adhesion, spec.method, seconds, params)


def calibrate_alpha(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Choose the cold start's alpha on confirmed (image, points, union mask) samples."""
    from ml.calibration import calibrate_alpha as _calibrate

    result = _calibrate(samples)
    return {
        "alpha": float(result.best_alpha),
        "table": result.table,
        "n_images": result.n_images,
        "n_targets": result.n_targets,
    }
