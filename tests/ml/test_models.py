"""EDGSPNet for every size: output shapes on odd image sizes, DPE wiring, forward/backward, init."""

import numpy as np
import pytest
import torch

from ml.config import ModelConfig
from ml.inference import Predictor
from ml.models import build_model, count_flops, count_parameters

SIZES = ["small", "base", "large"]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("prior", [True, False])
def test_odd_image_size_gives_same_size_output(size, prior, rng):
    torch.manual_seed(0)
    model = build_model(ModelConfig(size=size, prior=prior))
    img = rng.integers(0, 255, (37, 53)).astype(np.uint8)
    res = Predictor(model, "cpu").predict(img, np.array([[10.0, 20.0]]))
    assert res.prob.shape == (37, 53) and res.masks[0].shape == (37, 53)
    assert np.isfinite(res.prob).all()


@pytest.mark.parametrize("size", SIZES)
def test_forward_backward_with_deep_supervision(size):
    torch.manual_seed(0)
    model = build_model(ModelConfig(size=size, prior=True)).train()
    x = torch.randn(2, 3, 32, 48)
    outs = model(x, deep=True)
    assert len(outs) == 6 and all(o.shape == (2, 1, 32, 48) for o in outs)
    sum(o.mean() for o in outs).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_sizes_are_ordered_and_small_is_about_0_3m_params():
    counts = [count_parameters(build_model(ModelConfig(size=s))) for s in SIZES]
    assert 250_000 < counts[0] < 400_000
    assert counts[0] < counts[1] < counts[2]
    assert 1e9 < count_flops(build_model(ModelConfig(size="small")), (256, 256)) < 3e9


def test_dpe_head_sees_the_prompts_again():
    model = build_model(ModelConfig(size="small", prior=True))
    assert model.head.in_channels == model.config.channels[0] + 2
    assert build_model(ModelConfig(prior=False)).head.in_channels == model.config.channels[0] + 1
    # The Gaussian reaches the output directly through the head, not only through the backbone.
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.weight[0, -2] = 5.0
    model.eval()
    x = torch.zeros(1, 3, 32, 32)
    x[0, 1, 10, 10] = 1.0
    with torch.no_grad():
        out = model(x)[0, 0]
    assert float(out[10, 10] - out[20, 20]) == pytest.approx(5.0, abs=1e-4)


def test_head_biases_start_at_the_prior():
    model = build_model(ModelConfig(head_bias=-4.6)).eval()
    assert float(model.head.bias.detach()[0]) == pytest.approx(-4.6)
    with torch.no_grad():
        p = torch.sigmoid(model(torch.randn(1, 3, 32, 32))).mean()
    assert 0.003 < float(p) < 0.03


def test_bad_input_shapes_raise_clear_errors():
    model = build_model(ModelConfig(prior=True))
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.zeros(1, 3, 37, 53))
    with pytest.raises(ValueError, match=r"expected input \(B, 3, H, W\)"):
        model(torch.zeros(1, 2, 32, 32))


def test_unknown_size_raises():
    with pytest.raises(ValueError, match="unknown model size"):
        build_model(ModelConfig(size="huge"))
