"""`ml.release` on a tiny trained net: what it writes, the verdict rule, and the TTA bar from the CLI."""

import json
import subprocess
import sys

import pytest

from ml.checkpoints import read_checkpoint
from ml.config import ModelConfig, TrainConfig
from ml.data import load_samples
from ml.evaluation import evaluate_predictor
from ml.inference import Predictor
from ml.release import release
from ml.train import fit
from tests.ml.cli import ROOT

FAST = TrainConfig(batch_size=4, crop_size=32, max_steps=6, warmup_steps=2, eval_every=3, lr=3e-3, select_fraction=0.2)


@pytest.fixture(scope="module")
def trained(synthetic_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "run.pt"
    return fit(synthetic_dir, FAST, ModelConfig(size="small"), out_path=out, show_progress=False).checkpoint_path


def test_release_records_infer_settings_and_a_verdict_that_follows_its_rule(trained, synthetic_dir, tmp_path):
    out = tmp_path / "shipped.pt"
    m = release(trained, synthetic_dir, out)
    on_disk = json.loads(out.with_name("shipped.metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(m))
    assert out.with_name("shipped_curve.png").is_file()
    meta = read_checkpoint(out)["meta"]
    assert meta["infer"] == m["infer"] and meta["verdict"] == m["verdict"]
    assert meta["selection_ids"] and len(m["infer"]["selection_tta_iou"]) == 2
    e, c = m["val"]["edgsp_centroid"], m["val"]["coldstart_centroid"]
    gains = m["verdict"]["gain_over_coldstart"]
    assert set(gains) == {"val", "val_dense"}
    assert gains["val"]["gain"] == pytest.approx(e["iou"] - c["iou"], abs=1e-2)  # the same val runs, paired
    for g in gains.values():
        assert g["low"] <= g["gain"] <= g["high"]
    beats = gains["val"]["low"] > 0 and gains["val_dense"]["low"] > 0 and e["pd"] >= 100.0 and e["fat"] <= 0.0
    assert m["verdict"]["beats_coldstart"] is beats
    assert m["verdict"]["default_method"] == ("edgsp" if beats else "coldstart")
    assert Predictor.load(out).tta is m["infer"]["tta"]


@pytest.mark.parametrize("gain", [1e9, -1e9])
def test_cli_tta_gain_sets_the_bar_tta_must_clear(gain, trained, synthetic_dir, tmp_path):
    out = tmp_path / "w.pt"
    cmd = [sys.executable, "-m", "ml.release", "--checkpoint", str(trained), "--data", str(synthetic_dir),
           "--out", str(out), "--tta-gain", str(gain)]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    infer = json.loads(r.stdout)["infer"]
    # The rule, recomputed here: TTA must gain `gain` IoU points on the selection split and lose no Pd/Fat.
    sel_ids = set(read_checkpoint(trained)["meta"]["selection_ids"])
    selection = [s for s in load_samples(synthetic_dir, "train") if s.id in sel_ids]
    pred = Predictor.load(out)
    plain, tta = (
        evaluate_predictor(pred, selection, "centroid", threshold=infer["threshold"], tta=t) for t in (False, True)
    )
    expected = tta["iou"] - plain["iou"] >= gain and tta["pd"] >= plain["pd"] and tta["fat"] <= plain["fat"]
    assert infer["tta"] is expected
    assert pred.tta is expected
