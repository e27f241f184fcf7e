"""Training batches made in background processes (`TrainConfig.loader_workers`), for a GPU that outpaces one CPU.

Why: each sample's prior is a cold start on the whole frame, run on the CPU (about 1-2 ms a sample, 20-40 ms
a batch of 16): on a GPU, where a step of the small net takes a few ms, one process making batches is the
bottleneck. Off by default: the workers draw from their own generators, so a run with workers has another
random stream than one without (and a resumed run is not bit-identical to an uninterrupted one).

The workers are spawned, not forked: a child forked after OpenCV started its thread pool can deadlock on
that pool (seen here in cv2.setNumThreads), so the training frames are pickled to each worker once (a few
seconds for SIRST). A script that calls `fit` with workers needs the usual `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ml.coldstart import ColdStartParams
from ml.config import ModelConfig, TrainConfig
from ml.sampling import BatchSampler, TrainItem


class _BatchStream(IterableDataset):
    """Endless (inputs, targets) batches, one BatchSampler per worker with its own seeded generator."""

    def __init__(
        self,
        items: list[TrainItem],
        tc: TrainConfig,
        mc: ModelConfig,
        cold: ColdStartParams | None,
        style_alphas: dict[str, float] | None,
        seed: tuple[int, ...],
    ) -> None:
        super().__init__()
        self.args = (items, tc, mc, cold)
        self.style_alphas, self.seed = style_alphas, seed

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        info = get_worker_info()
        wid = info.id if info is not None else 0
        sampler = BatchSampler(*self.args, np.random.default_rng([*self.seed, wid]), style_alphas=self.style_alphas)
        while True:
            yield sampler.batch()


def _init_worker(_: int) -> None:
    import cv2

    # One thread each: the workers already fill the cores, and OpenCV's pool must not fight them.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def worker_batches(
    items: list[TrainItem],
    tc: TrainConfig,
    mc: ModelConfig,
    cold: ColdStartParams | None,
    style_alphas: dict[str, float] | None,
    start_step: int,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches from `tc.loader_workers` processes; pinned memory only for CUDA (never required).

    `start_step` enters the seed, so a resumed run does not replay the batches it already trained on.
    """
    stream = _BatchStream(items, tc, mc, cold, style_alphas, (tc.seed, start_step))
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=tc.loader_workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4,
        persistent_workers=True,
        worker_init_fn=_init_worker,
        multiprocessing_context="spawn",
    )
    return iter(loader)
