"""Resumable training state: everything `fit` needs to continue a run bit-for-bit after a stop.

A CPU run of the shipped recipe takes hours, so it must survive a closed session or a killed worker:
the state (weights, EMA, optimiser, step, elapsed time, best checkpoint so far, history and every RNG)
is written atomically every evaluation to one fixed path, and `fit(..., resume=True)` picks it up.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.checkpoints import save_atomically
from ml.config import TrainConfig

STATE_FORMAT = "edgsp-train-state/1"
# Settings that may change between the stop and the resume (how long to go on, where to run).
RESUMABLE_CHANGES = frozenset({"max_steps", "time_budget_s", "device", "threads", "out_dir", "loader_workers"})


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
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"training state {path} not found (nothing to resume)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"training state {path} is corrupted ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not an EDGSP training state (expected format {STATE_FORMAT})")
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
