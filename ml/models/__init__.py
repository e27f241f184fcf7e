"""Model registry: build an EDGSP network from a ModelConfig; count parameters and FLOPs."""

from __future__ import annotations

import torch

from ml.config import ModelConfig
from ml.models.edgsp import EDGSPNet


def build_model(config: ModelConfig | None = None) -> EDGSPNet:
    """Build an untrained EDGSPNet (default: the small net with the prior channel)."""
    return EDGSPNet(config or ModelConfig())


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: EDGSPNet, size: tuple[int, int] = (256, 256)) -> int:
    """Forward FLOPs (2 x MACs, torch FlopCounterMode) for one image of `size` (H, W)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, model.in_channels, *size)
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())


__all__ = ["EDGSPNet", "build_model", "count_flops", "count_parameters"]
