"""Fixtures for the ml tests; `slow` tests under tests/ml run only with RUN_SLOW=1."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ml.checkpoints import save_checkpoint
from ml.config import ModelConfig
from ml.models import build_model
from ml.synthetic import write_synthetic_dataset

HERE = Path(__file__).resolve().parent


def pytest_configure(config):  # noqa: ANN001, ARG001
    import torch

    torch.set_num_threads(1)  # the machine is shared; the tests are small


def pytest_collection_modifyitems(config, items):  # noqa: ANN001, ARG001
    if os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn"), n_train=10, n_val=3, seed=3)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:  # noqa: ANN001
    """An untrained small net with the prior channel, saved as a checkpoint."""
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return save_checkpoint(path, build_model(ModelConfig(size="small", prior=True)), {"model_version": "tiny"})
