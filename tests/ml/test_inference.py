"""Predictor: deterministic, any dtype and size, empty and out-of-image points, batch = single, TTA."""

import numpy as np
import pytest

from ml.inference import ColdStartPredictor, Predictor, _dihedral
from ml.synthetic import make_synthetic_sample


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint):
    return Predictor.load(tiny_checkpoint, device="cpu")


def test_load_and_predict_is_deterministic(tiny_checkpoint, rng):
    img, _ = make_synthetic_sample(rng, (45, 61))
    pts = np.array([[10.0, 12.0], [30.5, 20.0]])
    a = Predictor.load(tiny_checkpoint, "cpu").predict(img, pts)
    b = Predictor.load(tiny_checkpoint, "cpu").predict(img, pts)
    np.testing.assert_array_equal(a.prob, b.prob)
    assert len(a.masks) == 2 and all(m.dtype == bool and m.shape == (45, 61) for m in a.masks)
    assert len(a.fallback) == 2 and len(a.adhesion) == 2


def test_untrained_net_falls_back_to_the_cold_start_and_flags_it(predictor, rng):
    img, mask = make_synthetic_sample(rng, (48, 48), n_targets=1)
    ys, xs = np.nonzero(mask)
    res = predictor.predict(img, np.array([[xs.mean(), ys.mean()]]))
    assert res.fallback == [True] and res.masks[0].any()


def test_empty_points_give_an_empty_result(predictor, rng):
    img, _ = make_synthetic_sample(rng, (20, 30))
    res = predictor.predict(img, np.zeros((0, 2)))
    assert res.masks == [] and res.union().shape == (20, 30) and not res.union().any()


def test_point_outside_the_image_names_image_and_point(predictor):
    with pytest.raises(ValueError, match=r"point 0 \(x=40, y=3\).*image frame_9"):
        predictor.predict(np.zeros((20, 30), np.uint8), np.array([[40.0, 3.0]]), name="image frame_9")


def test_16_bit_input_matches_8_bit(predictor, rng):
    img, _ = make_synthetic_sample(rng, (33, 47))
    pts = np.array([[20.0, 15.0]])
    a = predictor.predict(img, pts).prob
    b = predictor.predict(img.astype(np.uint16) * 257, pts).prob
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_batch_of_different_sizes_matches_single_predictions(predictor, rng):
    imgs = [make_synthetic_sample(rng, s)[0] for s in [(40, 40), (33, 57), (48, 36)]]
    pts = [np.array([[5.0, 6.0]]), np.array([[20.0, 10.0]]), np.zeros((0, 2))]
    batch = predictor.predict_batch(imgs, pts)
    for img, p, r in zip(imgs, pts, batch, strict=True):
        np.testing.assert_allclose(r.prob, predictor.predict(img, p).prob, atol=1e-6)


def test_tta_output_has_the_image_shape(predictor, rng):
    img, _ = make_synthetic_sample(rng, (37, 53))
    res = predictor.predict(img, np.array([[10.0, 10.0]]), tta=True)
    assert res.prob.shape == (37, 53)


def test_dihedral_inverse_round_trips():
    import torch

    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    for k in range(8):
        assert torch.equal(_dihedral(_dihedral(x, k), k, inverse=True), x)


def test_coldstart_predictor_has_the_same_interface(rng):
    img, mask = make_synthetic_sample(rng, (48, 48), n_targets=1)
    ys, xs = np.nonzero(mask)
    res = ColdStartPredictor().predict(img, np.array([[float(np.floor(xs.mean())), float(np.floor(ys.mean()))]]))
    assert len(res.masks) == 1 and res.masks[0].any() and res.adhesion == [False]


def test_threshold_comes_from_checkpoint_meta(tiny_checkpoint, tmp_path):
    from ml.checkpoints import update_checkpoint_meta

    path = tmp_path / "t.pt"
    path.write_bytes(tiny_checkpoint.read_bytes())
    update_checkpoint_meta(path, {"infer": {"threshold": 0.005}})  # below the untrained net's ~0.01 output
    img = np.full((32, 32), 10, np.uint8)
    img[10:13, 10:13] = 200
    low = Predictor.load(path, "cpu").predict(img, np.array([[11.0, 11.0]]), bbm=False)
    assert low.masks[0].sum() > 100
    assert not Predictor.load(tiny_checkpoint, "cpu").predict(img, np.array([[11.0, 11.0]]), bbm=False).masks[0].any()


def test_nan_image_is_a_clear_error(predictor):
    img = np.zeros((20, 20), np.float32)
    img[3, 3] = np.nan
    with pytest.raises(ValueError, match="frame_1: image contains NaN"):
        predictor.predict(img, np.array([[3.0, 3.0]]), name="frame_1")


def test_tiny_images_work(predictor):
    for shape in [(1, 1), (5, 7), (3, 40)]:
        res = predictor.predict(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape), np.array([[0.0, 0.0]]))
        assert res.masks[0].shape == shape and res.masks[0][0, 0]


def test_with_coldstart_changes_prior_and_fallback_and_leaves_the_original_alone(tiny_checkpoint, rng):
    from ml.coldstart import point_prompt_masks

    p = Predictor.load(tiny_checkpoint, "cpu")
    img, mask = make_synthetic_sample(rng, (48, 48), n_targets=1)
    ys, xs = np.nonzero(mask)
    pts = np.array([[float(np.floor(xs.mean())), float(np.floor(ys.mean()))]])
    before = p.predict(img, pts)
    wide = p.with_coldstart({"alpha": 0.05, "size_alpha_factor": None})
    assert wide.model is p.model and wide.coldstart_overrides == {"alpha": 0.05, "size_alpha_factor": None}
    assert wide.coldstart_params.alpha == 0.05 and wide.coldstart_params.size_alpha_factor is None
    assert p.coldstart_params.alpha == 0.35 and p.coldstart_overrides == {}
    res = wide.predict(img, pts)
    assert not np.array_equal(res.prob, before.prob)  # the prior channel changed
    # The untrained net keeps nothing, so BBM falls back to the cold start: the overridden one.
    assert res.fallback == [True]
    np.testing.assert_array_equal(res.masks[0], point_prompt_masks(img, pts, wide.coldstart_params).masks[0])
    assert res.masks[0].sum() > before.masks[0].sum()
    again = p.predict(img, pts)
    np.testing.assert_array_equal(again.prob, before.prob)
    np.testing.assert_array_equal(again.masks[0], before.masks[0])
    np.testing.assert_array_equal(p.with_coldstart({}).predict(img, pts).prob, before.prob)


def test_with_coldstart_refuses_unknown_settings(predictor):
    with pytest.raises(ValueError, match=r"\['alhpa', 'colour'\]"):
        predictor.with_coldstart({"alhpa": 0.1, "colour": 1, "alpha": 0.2})
