"""Frozen configuration dataclasses for prompts, models, training and inference."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

ML_VERSION = "0.1.0"

MODEL_CHANNELS: dict[str, tuple[int, ...]] = {
    "small": (8, 16, 32, 64, 64),
    "base": (16, 32, 64, 128, 128),
    "large": (32, 64, 128, 256, 256),
}


@dataclass(frozen=True)
class PromptConfig:
    """TEI energy map: a Gaussian per point with full width at half maximum `fwhm` px, peak 1."""

    fwhm: float = 4.0


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an EDGSP network.

    `prior=True` adds the cold-start mask as a 4th input channel, concatenated again before the head
    like the DPE Gaussian. `coldstart_params` freezes the cold-start settings the weights saw.
    """

    size: str = "small"
    prior: bool = True
    edge: str = "central"
    deep_supervision: bool = True
    head_bias: float = -4.6
    fwhm: float = 4.0
    normalisation: str = "robust"
    coldstart_params: dict[str, Any] | None = None

    @property
    def channels(self) -> tuple[int, ...]:
        if self.size not in MODEL_CHANNELS:
            raise ValueError(f"unknown model size {self.size!r}; choose one of {sorted(MODEL_CHANNELS)}")
        return MODEL_CHANNELS[self.size]

    @property
    def stride(self) -> int:
        return 2 ** (len(self.channels) - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, sampling and selection settings (defaults = the shipped CPU recipe)."""

    seed: int = 42
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_steps: int = 150
    max_steps: int = 20000
    time_budget_s: float | None = None
    batch_size: int = 16
    crop_mode: str = "target"  # "target": target-centred crops; "paper": 256 crops, positive-biased
    crop_size: int = 112
    random_crop_prob: float = 0.15  # share of uniformly placed crops in "target" mode
    coarse_point_prob: float = 0.5  # share of samples prompted with jittered (coarse) points
    implant_prob: float = 0.0  # share of crops given 1-3 synthetic targets implanted into the real frame
    cluster_prob: float = 0.0  # share of crops given a dense cluster of touching synthetic targets (ml.synthetic)
    cluster_targets: tuple[int, int] = (2, 30)  # targets per cluster, drawn uniformly
    photometric_prob: float = 0.0  # share of frames rendered as another sensor would (ml.photometric)
    # Share of samples whose label is restyled (targets dilated 1-3 px or eroded 1 px) with the prior made at the
    # alpha matching that style: the net learns to follow the prior's width (ml/styles.py).
    prior_style_prob: float = 0.0
    ema_decay: float = 0.995
    eval_every: int = 250
    select_fraction: float = 0.15  # 0: no selection split, train on every sample and keep the last EMA weights
    select_seed: int = 1234
    # Share of the selection IoU taken from dense copies of the selection frames (each with one cluster of 5-30
    # touching targets, ml.synthetic.dense_copies): 0 judges on the frames alone.
    select_cluster_share: float = 0.0
    device: str = "auto"
    threads: int = 1
    loader_workers: int = 0  # >0: batches made in that many background processes (another random stream)
    out_dir: str = "runs/edgsp"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_finetune(cls, **overrides: Any) -> TrainConfig:
        """Preset for the app's retraining: a few new labels, a lower lr, short warm-up, frequent checks."""
        base = {"lr": 3e-4, "warmup_steps": 20, "max_steps": 2000, "eval_every": 100, "ema_decay": 0.99}
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class InferConfig:
    """Inference settings: threshold of the probability map, and flip/transpose TTA."""

    threshold: float = 0.5
    tta: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
