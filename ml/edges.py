"""Rough edge maps: central-difference gradient magnitude (the EDGSP code's) and Sobel (the paper's)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

EDGE_KINDS = ("central", "sobel")


def _kernels(kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "central":
        kx = np.array([[0, 0, 0], [-1, 0, 1], [0, 0, 0]], dtype=np.float32)
    elif kind == "sobel":
        # Scaled by 1/4 so that a linear ramp gives the same magnitude as central differences.
        kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32) / 4.0
    else:
        raise ValueError(f"unknown edge kind {kind!r}; choose one of {EDGE_KINDS}")
    return kx, kx.T.copy()


def compute_edges(image: np.ndarray, kind: str = "central") -> np.ndarray:
    """Gradient magnitude of a (H, W) float image, replicate-padded borders, float32 (H, W).

    Replicate padding avoids the false border edges that the reference code's zero padding makes.
    """
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return edges_torch(t, kind)[0, 0].numpy()


def edges_torch(x: torch.Tensor, kind: str = "central") -> torch.Tensor:
    """Gradient magnitude of a (B, 1, H, W) tensor: sqrt(gx^2 + gy^2 + 1e-6), replicate padding."""
    kx, ky = _kernels(kind)
    weight = torch.from_numpy(np.stack([kx, ky])[:, None]).to(dtype=x.dtype, device=x.device)
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight)
    return torch.sqrt(g[:, :1] ** 2 + g[:, 1:] ** 2 + 1e-6)


class EdgeLayer(torch.nn.Module):
    """Fixed (non-trainable) edge operator applied to the normalised image channel."""

    def __init__(self, kind: str = "central") -> None:
        super().__init__()
        _kernels(kind)
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return edges_torch(x, self.kind)
