"""Dense clusters in training: touching synthetic targets on the real frame, each one prompted."""

import numpy as np

from ml.config import ModelConfig, TrainConfig
from ml.points import label_components
from ml.sampling import BatchSampler, prepare_items
from ml.synthetic import make_synthetic_samples


def _sampler(prob: float, seed: int = 0, **overrides) -> BatchSampler:
    samples = make_synthetic_samples(3, seed=8, shape=(160, 160))
    mc = ModelConfig(size="small", prior=True)
    tc = TrainConfig(crop_size=96, coarse_point_prob=0.0, cluster_prob=prob, **overrides)
    return BatchSampler(prepare_items(samples, mc), tc, mc, None, np.random.default_rng(seed))


def _peaks(gauss: np.ndarray) -> int:
    return int((gauss > 0.999).sum())


def test_a_cluster_crop_holds_many_prompted_targets_and_some_touch():
    sampler = _sampler(1.0)
    peaks, touching = [], 0
    for _ in range(12):
        x, y = sampler.draw()
        gauss, target = x[1], y[0] > 0.5
        peaks.append(_peaks(gauss))
        touching += len(label_components(target)[3]) < peaks[-1]  # fewer blobs than points: targets touch
        ys, xs = np.nonzero(gauss > 0.999)
        assert target[ys, xs].all()  # every prompt sits on a labelled target
    plain = [_peaks(_sampler(0.0).draw()[0][1]) for _ in range(12)]
    assert np.median(peaks) >= 4 > np.median(plain)
    assert touching >= 6


def test_the_cluster_size_follows_the_setting():
    small = [_peaks(_sampler(1.0, cluster_targets=(2, 2)).draw()[0][1]) for _ in range(8)]
    large = [_peaks(_sampler(1.0, cluster_targets=(20, 25)).draw()[0][1]) for _ in range(8)]
    assert max(small) <= 4 and np.median(large) >= 12  # two cluster targets (+ the frame's own) against 20+
