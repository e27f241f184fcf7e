"""bench/quality.py's proxies: rebuilt in memory exactly as bench/proxies.py writes them, prompted with each
target's own point, and scored with intervals and a paired gain over the cold start."""

from types import SimpleNamespace

import numpy as np

from bench._stream_data import load_frames
from bench.proxies import write_proxy
from bench.quality import gain_over_coldstart, proxy_samples
from ml.data import load_samples
from ml.evaluation import evaluate_predictor, make_points
from ml.inference import ColdStartPredictor
from ml.synthetic import write_synthetic_dataset


def test_proxy_samples_match_the_written_proxy_and_prompt_every_target(tmp_path):
    data = write_synthetic_dataset(tmp_path / "src", n_train=2, n_val=3, seed=2, shape=(96, 96))
    samples = load_samples(data, "val")
    write_proxy("dense", "val", tmp_path / "dense", seed=0, data=data)
    written = {
        f.id: f
        for f in load_frames(*(tmp_path / "dense" / d for d in ("images", "masks")), tmp_path / "dense" / "points.json")
    }
    built = proxy_samples("dense", samples)
    for s in built:
        frame = written[s.id]
        assert np.array_equal(s.image, frame.image)
        assert np.array_equal(s.mask, np.any(frame.instances, axis=0))
        assert np.allclose(s.points, frame.points) and len(s.points) >= 5  # the cluster's targets, one point each
    assert [len(p) for p in make_points(built)] == [len(s.points) for s in built]


def test_gain_interval_over_the_cold_start_is_zero_against_itself_and_reported_per_frame(tmp_path):
    data = write_synthetic_dataset(tmp_path / "src", n_train=2, n_val=4, seed=3, shape=(96, 96))
    samples = load_samples(data, "val")
    cold = evaluate_predictor(ColdStartPredictor(), samples, "centroid")
    assert cold["iou_low"] <= cold["iou"] <= cold["iou_high"]
    assert gain_over_coldstart(cold["per_image"], cold["per_image"]) == {"gain": 0.0, "low": 0.0, "high": 0.0}
    shifted = [{**r, "inter": r["inter"] // 2} for r in cold["per_image"]]  # half the overlap on every frame
    worse = gain_over_coldstart(shifted, cold["per_image"])
    assert worse["high"] < 0 and worse["low"] <= worse["gain"] <= worse["high"]


def test_dense_frames_are_also_counted_target_by_target(tmp_path):
    """A touching cluster is one component of the union: union counting calls each split instance in it a false
    target; counted per target (each click's mask against its own target) the same masks find every target."""
    data = write_synthetic_dataset(tmp_path / "src", n_train=2, n_val=3, seed=2, shape=(96, 96))
    built = proxy_samples("dense", load_samples(data, "val"))
    assert all(len(s.instances) == len(s.points) for s in built)

    class Truth:  # returns each target's own true mask: a perfect, split prediction
        def predict(self, image, points, name="", **_):
            sample = next(s for s in built if s.id == name)
            return SimpleNamespace(
                masks=sample.instances,
                fallback=[False] * len(points),
                adhesion=[False] * len(points),
                union=lambda: sample.mask.copy(),
            )

    perfect = evaluate_predictor(Truth(), built, "centroid")
    assert perfect["iou"] == 100.0
    target = perfect["per_target"]
    assert target["pd"] == 100.0 and target["fat"] == 0.0 and target["n_merged"] == 0
    assert target["n_targets"] == sum(len(s.points) for s in built)
    coarse = evaluate_predictor(ColdStartPredictor(), built, "coarse")  # jittered clicks: not paired with targets
    assert "per_target" not in coarse
