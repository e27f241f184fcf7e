"""EDGSPNet: edge + TEI input embedding, residual U-Net, DPE head (prompts again before the 1x1 conv)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ml.config import ModelConfig
from ml.edges import EdgeLayer
from ml.models.unet import ResUNet


class EDGSPNet(nn.Module):
    """Single-point-prompt segmentation net.

    Input (B, C, H, W): channel 0 = normalised image, 1 = TEI Gaussian, 2 = prior mask (only when
    `config.prior`). The net prepends nothing trainable: the edge map of channel 0 is computed by a
    fixed operator, giving the first embedding [image, edges, Gaussian(, prior)]. The second (DPE)
    embedding concatenates the Gaussian (and prior) with the last decoder feature before the 1x1 head.
    Output: logits (B, 1, H, W); with `deep=True` a list [side heads deep..shallow, fused, out].
    H and W must be multiples of `config.stride`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.n_prompt = 2 if config.prior else 1
        self.in_channels = 1 + self.n_prompt
        ch = config.channels
        self.edge = EdgeLayer(config.edge)
        self.backbone = ResUNet(2 + self.n_prompt, ch)
        self.head = nn.Conv2d(ch[0] + self.n_prompt, 1, 1)
        # Side heads on the bottleneck and all but the last decoder level, plus a 1x1 fusion.
        side_ch = [ch[-1]] + [ch[i] for i in range(len(ch) - 2, 0, -1)]
        self.side_heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in side_ch)
        self.fuse = nn.Conv2d(len(side_ch) + 1, 1, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="leaky_relu", a=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Heads start at the prior p ~ 0.01: targets cover well under 1% of pixels.
        for head in [self.head, *self.side_heads]:
            nn.init.normal_(head.weight, std=0.01)
            nn.init.constant_(head.bias, self.config.head_bias)
        nn.init.constant_(self.fuse.weight, 1.0 / (len(self.side_heads) + 1))
        nn.init.constant_(self.fuse.bias, 0.0)

    def forward(self, x: torch.Tensor, deep: bool = False) -> torch.Tensor | list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        s = self.config.stride
        if x.shape[-2] % s or x.shape[-1] % s:
            raise ValueError(f"H and W must be multiples of {s}, got {tuple(x.shape[-2:])}; pad first")
        image, prompts = x[:, :1], x[:, 1:]
        feats = self.backbone(torch.cat([image, self.edge(image), prompts], dim=1))
        out = self.head(torch.cat([feats[-1], prompts], dim=1))
        if not deep:
            return out
        size = x.shape[-2:]
        sides = [
            F.interpolate(h(f), size=size, mode="bilinear", align_corners=False)
            for h, f in zip(self.side_heads, feats[:-1], strict=True)
        ]
        fused = self.fuse(torch.cat([*sides, out], dim=1))
        return [*sides, fused, out]
