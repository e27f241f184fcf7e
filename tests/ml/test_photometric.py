"""Photometric augmentation: another sensor's rendering of the same scene, labels untouched."""

import numpy as np
import pytest

from ml.config import ModelConfig, TrainConfig
from ml.inputs import normalise_image
from ml.photometric import Photometric, render
from ml.sampling import BatchSampler, prepare_items
from ml.synthetic import make_synthetic_samples


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit frame with a 5x5 bright target on noisy clutter, and the target's mask."""
    rng = np.random.default_rng(3)
    frame = rng.normal(60, 4, (64, 64)).clip(0, 255)
    frame[30:35, 20:25] += 90
    mask = np.zeros((64, 64), bool)
    mask[30:35, 20:25] = True
    return frame.astype(np.uint8), mask


def test_the_same_rng_renders_the_same_frame_and_another_renders_another():
    frame, _ = _scene()
    a = render(frame, np.random.default_rng(11))
    assert np.array_equal(a, render(frame, np.random.default_rng(11)))
    assert not np.array_equal(a, render(frame, np.random.default_rng(12)))
    assert a.shape == frame.shape


def test_renders_are_sixteen_or_eight_bit_and_not_the_input():
    frame, _ = _scene()
    dtypes = [render(frame, np.random.default_rng(seed)).dtype for seed in range(60)]
    assert 30 <= dtypes.count(np.uint16) <= 55 and dtypes.count(np.uint8) == 60 - dtypes.count(np.uint16)
    sixteen = next(render(frame, np.random.default_rng(s)) for s in range(60) if dtypes[s] == np.uint16)
    assert int(sixteen.max()) > 255  # really spread over 16 bits, not 8-bit values in a wider type


def test_the_target_stays_brighter_than_its_background_in_every_rendering():
    frame, mask = _scene()
    ring = np.zeros_like(mask)
    ring[26:39, 16:29] = True
    ring &= ~mask
    for seed in range(40):
        out = render(frame, np.random.default_rng(seed)).astype(float)
        assert out[mask].mean() > out[ring].mean() + 3 * out[ring].std() / 5


def test_blur_and_noise_change_what_the_net_sees():
    frame, _ = _scene()
    flat = Photometric(blur_prob=1.0, blur_sigma=(1.0, 1.0), gamma=(1.0, 1.0), noise=(0.0, 0.0), stripe_prob=0.0)

    def spill(img: np.ndarray) -> float:
        """The pixel just right of the target, as a share of the target's centre (both above the background)."""
        grey = img.astype(float)
        background = np.median(grey)
        return (grey[32, 25] - background) / (grey[32, 22] - background)

    assert spill(render(frame, np.random.default_rng(0), flat)) > spill(frame) + 0.15  # the target spreads out
    noisy = Photometric(blur_prob=0.0, gamma=(1.0, 1.0), noise=(0.1, 0.1), stripe_prob=0.0, sixteen_bit_prob=1.0)
    background = normalise_image(render(frame, np.random.default_rng(0), noisy))[:20, :20]
    assert background.std() > 1.5 * normalise_image(frame)[:20, :20].std()


def test_an_empty_frame_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        render(np.zeros((0, 5), np.uint8), np.random.default_rng(0))


def test_the_sampler_renders_frames_but_keeps_their_labels():
    samples = make_synthetic_samples(2, seed=4, shape=(64, 64))
    mc = ModelConfig(size="small", prior=True)
    tc = TrainConfig(crop_size=64, batch_size=2, photometric_prob=1.0)
    sampler = BatchSampler(prepare_items(samples, mc), tc, mc, None, np.random.default_rng(0))
    item = sampler.items[0]
    rendered = sampler._rendered(item)
    assert np.array_equal(rendered.mask, item.mask) and rendered.raw.dtype in (np.uint8, np.uint16)
    assert not np.allclose(rendered.norm, item.norm)
    x, y = sampler.batch()
    assert x.shape == (2, 3, 64, 64) and y.shape == (2, 1, 64, 64) and np.isfinite(x).all()


def test_probabilities_outside_zero_one_are_refused():
    samples = make_synthetic_samples(1, seed=4, shape=(64, 64))
    mc = ModelConfig(size="small", prior=False)
    items = prepare_items(samples, mc)
    for bad in ({"photometric_prob": 1.5}, {"cluster_prob": -0.1}, {"cluster_targets": (0, 3)}):
        with pytest.raises(ValueError, match="photometric_prob|cluster_prob|cluster_targets"):
            BatchSampler(items, TrainConfig(crop_size=64, **bad), mc, None, np.random.default_rng(0))
