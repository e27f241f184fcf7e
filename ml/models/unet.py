"""Residual U-Net backbone returning the decoder features of every level."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ml.models.blocks import ResBlock, UpBlock


class ResUNet(nn.Module):
    """U-shaped residual encoder-decoder.

    With channels (c1..c5) the encoder runs at H, H/2, ..., H/16; the decoder mirrors it and ends
    with c1 channels at full resolution. H and W must be multiples of 2^(len(channels)-1).
    """

    def __init__(self, c_in: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"need at least 2 levels, got channels={channels}")
        self.channels = tuple(channels)
        enc, prev = [], c_in
        for c in channels:
            enc.append(ResBlock(prev, c))
            prev = c
        self.encoder = nn.ModuleList(enc)
        # Decoder level i (deep to shallow) merges skip i and outputs channels[i].
        dec, deep = [], channels[-1]
        for i in range(len(channels) - 2, -1, -1):
            dec.append(UpBlock(deep, channels[i], channels[i]))
            deep = channels[i]
        self.decoder = nn.ModuleList(dec)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C_in, H, W) -> [bottleneck, decoder features deep..shallow]; the last is full-res."""
        skips = []
        for i, block in enumerate(self.encoder):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        feats = [x]
        for j, up in enumerate(self.decoder):
            x = up(x, skips[-2 - j])
            feats.append(x)
        return feats
