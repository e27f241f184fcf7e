"""EDGSP engine: single-point-prompt infrared small-target masks (plain PyTorch/numpy, no web deps)."""

from ml.config import ML_VERSION, InferConfig, ModelConfig, PromptConfig, TrainConfig
from ml.inference import ColdStartPredictor, Predictor
from ml.models import build_model
from ml.prompts import make_gaussian_map
from ml.train import TrainResult, fit

__all__ = [
    "ML_VERSION",
    "ColdStartPredictor",
    "InferConfig",
    "ModelConfig",
    "Predictor",
    "PromptConfig",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "fit",
    "make_gaussian_map",
]
