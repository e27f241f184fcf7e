"""The committed weights load, carry their metadata, and still see the prior they were trained with."""

import json

import numpy as np

from ml.inference import DEFAULT_WEIGHTS, Predictor
from ml.prior import prior_fingerprint
from ml.synthetic import make_synthetic_sample


def test_shipped_weights_load_with_metadata():
    assert DEFAULT_WEIGHTS.is_file(), "ml/weights/edgsp_small.pt is missing"
    p = Predictor.load(device="cpu")
    assert p.config.size == "small" and p.config.prior
    for key in ("data_hash", "model_version", "verdict", "infer", "train_config", "selection_metrics"):
        assert key in p.meta, key
    assert isinstance(p.meta["verdict"]["beats_coldstart"], bool)
    assert 0.0 < p.threshold < 1.0
    side = json.loads(DEFAULT_WEIGHTS.with_name("edgsp_small.metrics.json").read_text())
    assert side["verdict"] == p.meta["verdict"]
    seen = p.meta["seen_sha256"]  # the frames an app must not validate these weights on
    assert len(seen) == side["n_seen_sha256"] == p.meta["n_train"] + len(p.meta["selection_ids"])
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in seen) and seen == sorted(set(seen))


def test_prior_matches_the_one_the_weights_were_trained_with():
    p = Predictor.load(device="cpu")
    assert prior_fingerprint(p.coldstart_params) == p.meta["prior_fingerprint"], (
        "ml/coldstart.py now produces another prior for the frozen settings: retrain or pin the old behaviour"
    )


def test_shipped_weights_segment_a_synthetic_target(rng):
    img, mask = make_synthetic_sample(rng, (64, 64), n_targets=1)
    ys, xs = np.nonzero(mask)
    res = Predictor.load(device="cpu").predict(img, np.array([[np.floor(xs.mean()), np.floor(ys.mean())]]))
    inter = (res.masks[0] & mask).sum()
    assert inter / (res.masks[0] | mask).sum() > 0.3


def test_cli_predict_defaults_to_the_shipped_weights(synthetic_dir, tmp_path):
    import cv2

    from ml.data import load_samples
    from ml.points import centroid_points
    from tests.ml.cli import run_ml

    val = load_samples(synthetic_dir, "val")
    pts = tmp_path / "p.json"
    pts.write_text(json.dumps({s.id: centroid_points(s.mask).tolist() for s in val}))
    r = run_ml("predict", "--images", str(synthetic_dir / "images"), "--points", str(pts), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    for s in val:
        m = cv2.imread(str(tmp_path / "o" / f"{s.id}.png"), cv2.IMREAD_UNCHANGED)
        assert m.shape == s.image.shape and m.max() == 255
