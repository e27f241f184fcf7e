"""Training sampler: human clicks drive crops and prompts; restyled labels come with a prior at their alpha."""

import hashlib

import numpy as np
import pytest

import ml.sampling as sampling
from ml.coldstart import ColdStartParams
from ml.config import ModelConfig, TrainConfig
from ml.data import Sample
from ml.sampling import BatchSampler, prepare_items
from ml.synthetic import make_synthetic_samples

TABLE = {"erode1": 0.7, "dilate1": 0.16, "dilate2": 0.07, "dilate3": 0.05}


def _touching_pair(points: bool) -> Sample:
    """Two bright 5x5 targets side by side (one component of the union mask), clicked at their centres."""
    rng = np.random.default_rng(0)
    img = rng.normal(40, 2, (48, 48)).clip(0, 255).astype(np.uint8)
    img[20:25, 14:19] = 200
    img[20:25, 19:24] = 170
    mask = np.zeros((48, 48), dtype=bool)
    mask[20:25, 14:24] = True
    clicks = np.array([[16.0, 22.0], [21.0, 22.0]]) if points else None
    return Sample("pair", img, mask, clicks)


def _gauss_peaks(points: bool, coarse: float) -> list[int]:
    mc = ModelConfig(size="small", prior=False)
    tc = TrainConfig(crop_size=48, coarse_point_prob=coarse)
    sampler = BatchSampler(prepare_items([_touching_pair(points)], mc), tc, mc, None, np.random.default_rng(0))
    return [int((sampler.draw()[0][1] > 0.999).sum()) for _ in range(20)]


def test_clicks_prompt_both_touching_targets_where_centroids_prompt_one():
    assert _gauss_peaks(points=False, coarse=0.0) == [1] * 20  # the union's one centroid: a wrong prompt
    assert _gauss_peaks(points=True, coarse=0.0) == [2] * 20  # one energy peak per click
    assert _gauss_peaks(points=True, coarse=1.0).count(2) >= 18  # jittered, each on its own half


def test_clicks_place_the_target_crops():
    items = prepare_items([_touching_pair(True)], ModelConfig())
    assert items[0].centroids.tolist() == [[16.0, 22.0], [21.0, 22.0]]
    assert prepare_items([_touching_pair(False)], ModelConfig())[0].centroids.tolist() == [[18.5, 22.0]]


def test_a_click_outside_the_frame_names_the_sample():
    bad = Sample("frame_7", np.zeros((10, 10), np.uint8), np.zeros((10, 10), bool), np.array([[30.0, 1.0]]))
    with pytest.raises(ValueError, match="frame_7.*outside"):
        prepare_items([bad], ModelConfig())


def _digest(**overrides: float) -> str:
    """Inputs (prior channel included) and targets of 3 batches."""
    samples = make_synthetic_samples(4, seed=5, shape=(96, 96))
    mc = ModelConfig(size="small", prior=True)
    tc = TrainConfig(crop_size=64, batch_size=4, **overrides)
    sampler = BatchSampler(prepare_items(samples, mc), tc, mc, ColdStartParams(), np.random.default_rng(1),
                           style_alphas=TABLE)  # fmt: skip
    h = hashlib.sha256()
    for _ in range(3):
        x, y = sampler.batch()
        h.update(x.tobytes())
        h.update(y.tobytes())
    return h.hexdigest()[:16]


def test_runs_without_styles_draw_the_same_batches_as_before_styles_existed():
    """Pinned with the sampler of f310d1e (before styles and clicks): prior_style_prob, cluster_prob and
    photometric_prob at 0 draw nothing extra."""
    assert _digest() == "1bc261e836ea0d6c"
    assert _digest(prior_style_prob=1e-9) != "1bc261e836ea0d6c"
    # Clusters and photometric rendering, like styles, draw only when on: a run with either set is another stream.
    assert _digest(cluster_prob=1e-9) != "1bc261e836ea0d6c"
    assert _digest(photometric_prob=1e-9) != "1bc261e836ea0d6c"


def test_styled_samples_get_restyled_labels_and_a_prior_at_the_style_alpha(monkeypatch):
    alphas = []
    real = sampling.make_prior
    monkeypatch.setattr(sampling, "make_prior", lambda img, pts, p: alphas.append(p.alpha) or real(img, pts, p))
    samples = make_synthetic_samples(4, seed=5, shape=(96, 96))
    mc = ModelConfig(size="small")

    def draws(prob: float) -> tuple[float, list[float]]:
        alphas.clear()
        tc = TrainConfig(crop_size=64, prior_style_prob=prob, random_crop_prob=0.0)
        s = BatchSampler(prepare_items(samples, mc), tc, mc, ColdStartParams(), np.random.default_rng(3),
                         style_alphas=TABLE)  # fmt: skip
        return float(np.mean([s.draw()[1].sum() for _ in range(60)])), list(alphas)

    plain_area, plain_alphas = draws(0.0)
    styled_area, styled_alphas = draws(1.0)
    assert set(plain_alphas) == {0.35}
    near = [min(abs(a / t - 1) for t in TABLE.values()) for a in styled_alphas]
    assert max(near) <= 0.15 + 1e-9 and len(set(styled_alphas)) > 10  # each style's alpha, jittered
    assert styled_area > 1.3 * plain_area  # three of four styles dilate


def test_style_settings_are_checked():
    items = prepare_items(make_synthetic_samples(2), ModelConfig())
    with pytest.raises(ValueError, match="prior_style_prob must be"):
        BatchSampler(items, TrainConfig(prior_style_prob=2.0), ModelConfig(), None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="prior channel"):
        BatchSampler(items, TrainConfig(prior_style_prob=0.5), ModelConfig(prior=False), None,
                     np.random.default_rng(0), style_alphas=TABLE)  # fmt: skip
    with pytest.raises(ValueError, match="dilate3"):
        BatchSampler(items, TrainConfig(prior_style_prob=0.5), ModelConfig(), None, np.random.default_rng(0),
                     style_alphas={k: v for k, v in TABLE.items() if k != "dilate3"})  # fmt: skip


def test_the_table_is_calibrated_from_the_items_when_not_given():
    items = prepare_items(make_synthetic_samples(3, seed=2), ModelConfig())
    s = BatchSampler(items, TrainConfig(prior_style_prob=0.5), ModelConfig(), None, np.random.default_rng(0))
    assert set(s.style_alphas) == set(TABLE) and s.style_alphas["dilate1"] < s.style_alphas["erode1"]


def test_loader_workers_make_batches_of_the_same_shape():
    import torch

    from ml.loader import worker_batches

    mc = ModelConfig()
    tc = TrainConfig(crop_size=32, batch_size=3, loader_workers=1)
    it = worker_batches(prepare_items(make_synthetic_samples(3), mc), tc, mc, None, None, 0, torch.device("cpu"))
    x, y = next(it)
    assert tuple(x.shape) == (3, 3, 32, 32) and tuple(y.shape) == (3, 1, 32, 32)
    assert not torch.equal(x, next(it)[0])
    del it


def test_the_sampler_draws_only_styles_the_prior_can_tell_apart():
    table = {**TABLE, "dilate3": TABLE["dilate2"]}
    items = prepare_items(make_synthetic_samples(2), ModelConfig())
    s = BatchSampler(items, TrainConfig(prior_style_prob=1.0), ModelConfig(), None, np.random.default_rng(0),
                     style_alphas=table)  # fmt: skip
    assert s.styles == ["erode1", "dilate1", "dilate2"]
    assert {s._style()[0] for _ in range(200)} == {-1, 1, 2}
