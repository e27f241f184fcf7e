"""Building blocks: residual conv block and U-Net decoder step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """conv3x3-BN-LeakyReLU, conv3x3-BN, plus shortcut (1x1 conv-BN on channel change), LeakyReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity()
            if c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        )
        self.act = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class UpBlock(nn.Module):
    """Bilinear x2 upsampling of the deeper feature, concat with the skip, then a ResBlock."""

    def __init__(self, c_deep: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.block = ResBlock(c_deep + c_skip, c_out)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(deep, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([up, skip], dim=1))
