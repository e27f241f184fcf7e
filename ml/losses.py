"""Losses: BCE summed over the deep-supervision outputs (as the EDGSP code: weight 1 each)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def deep_supervision_bce(logits: list[torch.Tensor] | torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over outputs of mean BCE-with-logits; `target` (B, 1, H, W) float in [0, 1]."""
    outs = logits if isinstance(logits, list | tuple) else [logits]
    return sum(F.binary_cross_entropy_with_logits(o, target) for o in outs)
