"""Proxy folders built from a small synthetic SIRST-like tree: they load, and each kind changes what it says."""

import json

import cv2
import numpy as np
import pytest

from bench._stream_data import load_frames
from bench.proxies import widen, write_proxy
from ml.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def proxies(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxies")
    data = write_synthetic_dataset(root / "src", n_train=3, n_val=3, seed=1, shape=(96, 96))
    out = {}
    for kind in ("sirst", "sensor", "wide", "dense"):
        write_proxy(kind, "val", root / kind, seed=0, limit=2, data=data)
        out[kind] = load_frames(root / kind / "images", root / kind / "masks", root / kind / "points.json")
    return root, out


def test_every_kind_loads_with_one_point_per_instance(proxies):
    root, frames = proxies
    for kind, fs in frames.items():
        assert len(fs) == 2, kind
        manifest = json.loads((root / kind / "manifest.json").read_text())
        assert manifest["kind"] == kind and manifest["seed"] == 0 and len(manifest["source_ids"]) == 2
        assert cv2.imread(str(root / kind / "masks" / f"{fs[0].id}.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
        for f in fs:
            assert len(f.instances) == len(f.points)


def test_sensor_is_16_bit_and_wide_only_widens_its_masks(proxies):
    _, frames = proxies
    for s, w, r in zip(frames["sensor"], frames["wide"], frames["sirst"], strict=True):
        assert s.image.dtype == np.uint16 and r.image.dtype == np.uint8
        assert s.image.min() >= 1500 and np.array_equal(s.image, w.image)
        assert np.array_equal(s.points, w.points) and np.array_equal(s.points, r.points)
        for a, b in zip(s.instances, w.instances, strict=True):
            assert (b & a).sum() == a.sum() and b.sum() > a.sum()


def test_dense_adds_a_cluster_after_the_real_targets(proxies):
    _, frames = proxies
    for d, r in zip(frames["dense"], frames["sirst"], strict=True):
        assert 5 <= len(d.instances) - len(r.instances) <= 30
        assert all(np.array_equal(a, b) for a, b in zip(d.instances, r.instances, strict=False))


def test_a_smaller_limit_leaves_no_stale_frames(tmp_path):
    data = write_synthetic_dataset(tmp_path / "src", n_train=1, n_val=3, seed=2, shape=(64, 64))
    write_proxy("sensor", "val", tmp_path / "p", limit=3, data=data)
    write_proxy("sensor", "val", tmp_path / "p", limit=1, data=data)
    assert len(load_frames(tmp_path / "p" / "images", tmp_path / "p" / "masks", tmp_path / "p" / "points.json")) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no proxy"):
        write_proxy("sensor", "val", tmp_path / "other", data=data)


def test_widening_gives_contested_pixels_to_the_nearest_instance():
    a, b = np.zeros((9, 12), bool), np.zeros((9, 12), bool)
    a[4, 2], b[4, 7] = True, True  # 5 px apart: radius 3 discs overlap
    wa, wb = widen([a, b], 3)
    assert not (wa & wb).any() and wa[4, 2] and wb[4, 7]
    assert wa[4, 4] and wb[4, 5] and wb[4, 10] and wa[4, 0]
    assert not wa[4, 5] and not wb[4, 4]
    yy, xx = np.mgrid[0:9, 0:12]
    disc = (np.hypot(yy - 4, xx - 2) <= 3) | (np.hypot(yy - 4, xx - 7) <= 3)  # Euclidean discs of radius 3
    assert np.array_equal(wa | wb, disc)


def test_the_fine_tune_ceiling_scores_only_frames_after_those_it_trained_on(proxies):
    from bench._stream_data import frame_order
    from bench.finetune_ceiling import _split

    root, frames = proxies
    train, test = _split(root / "dense", n_train=1, n_frames=2)
    ids = frame_order([f.id for f in frames["dense"]], "hash")
    assert [f.id for f in train] == ids[:1] and [f.id for f in test] == ids[1:2]  # the stream's order, disjoint


def test_the_fine_tune_ceiling_calibrates_as_the_loop_does(proxies):
    from bench.finetune_ceiling import calibrated

    _, frames = proxies
    dense, sirst = calibrated(frames["dense"]), calibrated(frames["sirst"])
    assert dense["gaps"] is False and sirst["gaps"] is True  # touching cluster masks: no 1-px gap, as the loop
    assert set(dense) == {"alpha", "use_grabcut", "size_rule", "gaps"} and 0.0 < dense["alpha"] < 1.0
