"""CLI in a subprocess: predict (edgsp and coldstart) and evaluate on a tiny synthetic directory; errors."""

import json

import cv2
import numpy as np
import pytest

from ml.data import load_samples
from ml.points import centroid_points
from tests.ml.cli import run_ml


@pytest.fixture(scope="module")
def points_file(synthetic_dir, tmp_path_factory):
    pts = {s.id: centroid_points(s.mask).tolist() for s in load_samples(synthetic_dir, "val")}
    first = sorted(pts)[0]
    pts[first] = []  # empty list -> empty mask
    path = tmp_path_factory.mktemp("pts") / "points.json"
    path.write_text(json.dumps(pts))
    return path, first


@pytest.mark.parametrize("method", ["edgsp", "coldstart"])
def test_predict_then_evaluate(method, synthetic_dir, points_file, tiny_checkpoint, tmp_path):
    path, empty_id = points_file
    out = tmp_path / "pred"
    r = run_ml(
        "predict",
        "--images",
        str(synthetic_dir / "images"),
        "--points",
        str(path),
        "--out",
        str(out),
        "--method",
        method,
        "--weights",
        str(tiny_checkpoint),
        "--device",
        "cpu",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 3
    for s in load_samples(synthetic_dir, "val"):
        m = cv2.imread(str(out / f"{s.id}.png"), cv2.IMREAD_UNCHANGED)
        assert m.dtype == np.uint8 and m.shape == s.image.shape and set(np.unique(m)) <= {0, 255}
    assert not cv2.imread(str(out / f"{empty_id}.png"), cv2.IMREAD_UNCHANGED).any()
    r = run_ml("evaluate", "--pred", str(out), "--gt", str(synthetic_dir / "masks"))
    assert r.returncode != 0 and "no image file" in r.stderr  # train ids have no prediction
    r = run_ml(
        "evaluate",
        "--pred",
        str(out),
        "--gt",
        str(synthetic_dir / "masks"),
        "--ids",
        str(synthetic_dir / "splits" / "val.txt"),
    )
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert set(metrics) >= {"iou", "pd", "fat", "fa"} and metrics["n_images"] == 3
    if method == "coldstart":
        assert metrics["iou"] > 30 and metrics["pd"] > 50  # two of three frames clicked


def test_evaluate_identical_folders_is_perfect(synthetic_dir):
    r = run_ml("evaluate", "--pred", str(synthetic_dir / "masks"), "--gt", str(synthetic_dir / "masks"))
    m = json.loads(r.stdout)
    assert (m["iou"], m["pd"], m["fat"], m["fa"]) == (100.0, 100.0, 0.0, 0.0)


def test_point_outside_the_image_is_one_clear_line(synthetic_dir, tmp_path, tiny_checkpoint):
    sid = sorted(p.stem for p in (synthetic_dir / "images").iterdir())[0]
    pts = tmp_path / "p.json"
    pts.write_text(json.dumps({sid: [[500.0, 3.0]]}))
    r = run_ml(
        "predict",
        "--images",
        str(synthetic_dir / "images"),
        "--points",
        str(pts),
        "--out",
        str(tmp_path / "o"),
        "--weights",
        str(tiny_checkpoint),
    )
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and sid in r.stderr and "x=500" in r.stderr


def test_unreadable_image_and_bad_weights_are_one_clear_line(tmp_path, tiny_checkpoint):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_bytes(b"nope")
    pts = tmp_path / "p.json"
    pts.write_text(json.dumps({"x": [[1.0, 1.0]]}))
    r = run_ml(
        "predict",
        "--images",
        str(tmp_path / "imgs"),
        "--points",
        str(pts),
        "--out",
        str(tmp_path / "o"),
        "--weights",
        str(tiny_checkpoint),
    )
    assert r.returncode != 0 and "x.png" in r.stderr and r.stderr.strip().count("\n") == 0
    bad = tmp_path / "bad.pt"
    bad.write_text("junk")
    r = run_ml(
        "predict",
        "--images",
        str(tmp_path / "imgs"),
        "--points",
        str(pts),
        "--out",
        str(tmp_path / "o"),
        "--weights",
        str(bad),
    )
    assert r.returncode != 0 and "bad.pt" in r.stderr and r.stderr.strip().count("\n") == 0


def test_evaluate_mask_of_another_size_names_the_file(tmp_path):
    for d, shape in (("p", (4, 5)), ("g", (4, 6))):
        (tmp_path / d).mkdir()
        cv2.imwrite(str(tmp_path / d / "a.png"), np.zeros(shape, np.uint8))
    r = run_ml("evaluate", "--pred", str(tmp_path / "p"), "--gt", str(tmp_path / "g"))
    assert r.returncode != 0 and "a.png" in r.stderr


def test_train_resume_through_the_cli(synthetic_dir, tmp_path):
    state, out = tmp_path / "run.state.pt", tmp_path / "m.pt"
    common = ("train", "--data", str(synthetic_dir), "--out", str(out), "--state", str(state), "--batch-size", "2",
              "--crop-size", "32", "--eval-every", "2", "--warmup", "1")  # fmt: skip
    r = run_ml(*common, "--max-steps", "2", "--resume")
    assert r.returncode == 2 and f"training state {state} not found" in r.stderr
    r = run_ml(*common, "--max-steps", "2")
    assert r.returncode == 0, r.stderr
    r = run_ml(*common, "--max-steps", "4", "--resume")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["steps"] == 4


def test_train_flags_for_prior_following(synthetic_dir, tmp_path):
    from ml.checkpoints import read_checkpoint

    out = tmp_path / "s.pt"
    r = run_ml("train", "--data", str(synthetic_dir), "--out", str(out), "--batch-size", "2", "--crop-size", "32",
               "--max-steps", "2", "--warmup", "1", "--prior-style-prob", "0.5", "--coldstart-alpha", "0.25",
               "--select-fraction", "0")  # fmt: skip
    assert r.returncode == 0, r.stderr
    payload = read_checkpoint(out)
    meta = payload["meta"]
    assert payload["model_config"]["coldstart_params"]["alpha"] == 0.25
    assert meta["coldstart_overrides"] == {"alpha": 0.25}
    assert meta["prior_follows_alpha"] and meta["train_config"]["prior_style_prob"] == 0.5
    assert meta["prior_style_default_alpha"] == 0.25 and meta["n_train"] == 10
