"""Checkpoint save/load: state_dict + model config + metadata; bad files raise a clear ValueError."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from ml.config import ML_VERSION, ModelConfig
from ml.models import EDGSPNet, build_model

CHECKPOINT_FORMAT = "edgsp-checkpoint/1"


def save_atomically(payload: dict[str, Any], path: str | Path) -> Path:
    """torch.save through a temporary file and a rename: a reader or a kill mid-write never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def save_checkpoint(path: str | Path, model: EDGSPNet, meta: dict[str, Any] | None = None) -> Path:
    """Write model weights (fp32, CPU), its ModelConfig and JSON-like `meta` atomically to `path`."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "ml_version": ML_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    return save_atomically(payload, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load the raw checkpoint dict (weights_only: no code runs from the file)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"checkpoint {path} is corrupted or not a checkpoint ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an EDGSP checkpoint (expected format {CHECKPOINT_FORMAT})")
    return payload


def load_checkpoint(path: str | Path) -> tuple[EDGSPNet, dict[str, Any]]:
    """Rebuild the model of a checkpoint and load its weights; returns (model in eval mode, payload)."""
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(dict(payload["model_config"]))
        model = build_model(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {path} has an unusable model config: {exc}") from exc
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ValueError(f"checkpoint {path} does not match the {config.size} EDGSP architecture: {first}") from exc
    model.eval()
    return model, payload


def update_checkpoint_meta(
    path: str | Path, updates: dict[str, Any], model_config: dict[str, Any] | None = None
) -> None:
    """Merge `updates` into a checkpoint's metadata (and optionally its model config) in place."""
    payload = read_checkpoint(path)
    payload["meta"] = {**payload.get("meta", {}), **updates}
    if model_config is not None:
        payload["model_config"] = {**payload["model_config"], **model_config}
    save_atomically(payload, path)
