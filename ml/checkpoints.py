"""The files training writes: checkpoints (state_dict + model config + metadata) and the resumable training state.

Both are written atomically and read with weights_only (no code runs from a file); a missing, damaged or foreign
file raises a ValueError naming it. A CPU run of the shipped recipe takes hours, so it must survive a closed session
or a killed worker: the training state (weights, EMA, optimiser, step, elapsed time, best checkpoint so far, history
and every RNG) is rewritten at every evaluation to one fixed path, and `fit(..., resume=True)` continues it
bit-for-bit.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.config import ML_VERSION, ModelConfig, TrainConfig
from ml.models import EDGSPNet, build_model

CHECKPOINT_FORMAT = "edgsp-checkpoint/1"
STATE_FORMAT = "edgsp-train-state/1"
# Settings that may change between the stop and the resume (how long to go on, where to run).
RESUMABLE_CHANGES = frozenset({"max_steps", "time_budget_s", "device", "threads", "out_dir", "loader_workers"})


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


def _read(path: str | Path, fmt: str, what: str, missing: str = "not found") -> dict[str, Any]:
    """A file written by `save_atomically` with payload["format"] == fmt (weights_only: no code runs from it)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} {missing}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"{what} {path} is corrupted or not a {what} ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not an EDGSP {what} (expected format {fmt})")
    return payload


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load the raw checkpoint dict."""
    return _read(path, CHECKPOINT_FORMAT, "checkpoint")


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


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training state atomically (a kill mid-write leaves the previous state intact)."""
    payload = {
        "format": STATE_FORMAT,
        **state,
        "rng": {
            "python": random.getstate(),
            "torch": torch.get_rng_state(),
            "numpy": state["rng"].bit_generator.state,
        },
    }
    return save_atomically(payload, path)


def load_state(path: str | Path, train_config: dict[str, Any], data_hash: str) -> dict[str, Any]:
    """Read a state and check it belongs to this run: same data and same recipe (bar RESUMABLE_CHANGES)."""
    payload = _read(path, STATE_FORMAT, "training state", missing="not found (nothing to resume)")
    if payload["data_hash"] != data_hash:
        raise ValueError(f"training state {path} was made on other data (hash {payload['data_hash']}, now {data_hash})")
    # A setting added after the state was written had its default then: compare against that.
    saved = {**TrainConfig().to_dict(), **payload["train_config"]}
    saved = {k: v for k, v in saved.items() if k not in RESUMABLE_CHANGES}
    now = {k: v for k, v in train_config.items() if k not in RESUMABLE_CHANGES}
    changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
    if changed:
        raise ValueError(f"training state {path} was made with other settings: {', '.join(changed)} differ")
    return payload


def restore_rng(payload: dict[str, Any], rng: np.random.Generator) -> None:
    """Put every random stream back where it was when the state was written."""
    random.setstate(payload["rng"]["python"])
    torch.set_rng_state(payload["rng"]["torch"])
    rng.bit_generator.state = payload["rng"]["numpy"]
