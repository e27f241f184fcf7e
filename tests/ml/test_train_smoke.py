"""A few CPU training steps on synthetic data: finite decreasing loss, checkpoint, curve, fine-tuning."""

import json

import numpy as np
import pytest
import torch

from ml.checkpoints import load_checkpoint
from ml.config import ModelConfig, TrainConfig
from ml.inference import Predictor
from ml.synthetic import make_synthetic_samples
from ml.train import _lr_at, _selection_key, fit

FAST = TrainConfig(batch_size=4, crop_size=32, max_steps=12, warmup_steps=2, eval_every=6, lr=3e-3, select_fraction=0.2)


def test_fit_writes_a_checkpoint_with_metadata_and_curve(tmp_path, synthetic_dir):
    calls = []
    res = fit(
        synthetic_dir,
        FAST,
        ModelConfig(size="small"),
        out_path=tmp_path / "m.pt",
        progress_callback=calls.append,
        show_progress=False,
    )
    assert res.checkpoint_path.is_file() and res.steps == 12
    assert res.curve_path is not None and res.curve_path.stat().st_size > 1000
    losses = [h["loss"] for h in res.history if "loss" in h and h.get("max_steps")]
    assert all(np.isfinite(losses)) and np.mean(losses[-4:]) < np.mean(losses[:4])
    assert len(calls) == 12 and "selection" in calls[5]
    model, payload = load_checkpoint(res.checkpoint_path)
    meta = payload["meta"]
    assert len(meta["data_hash"]) == 16 and meta["train_config"]["max_steps"] == 12
    assert meta["selection_ids"] and meta["chosen_step"] in (6, 12)
    assert set(res.metrics) >= {"iou", "pd", "fat", "fa"}
    assert model.config.coldstart_params is not None
    json.dumps(meta)  # metadata stays JSON-friendly for the app


def test_fine_tune_from_a_checkpoint_on_a_few_new_samples(tmp_path, tiny_checkpoint):
    new = make_synthetic_samples(3, seed=9)
    res = fit(new, FAST, init_checkpoint=tiny_checkpoint, out_path=tmp_path / "ft.pt", show_progress=False)
    model, payload = load_checkpoint(res.checkpoint_path)
    assert payload["meta"]["parent_version"] == "tiny"
    assert payload["meta"]["selection_ids"] == []  # too few frames to carve a selection split
    base, _ = load_checkpoint(tiny_checkpoint)
    assert any(
        not torch.equal(a, b) for a, b in zip(model.state_dict().values(), base.state_dict().values(), strict=True)
    )
    assert Predictor(model, "cpu").predict(new[0].image, np.array([[5.0, 5.0]])).prob.shape == (64, 64)


def test_time_budget_stops_training(tmp_path):
    res = fit(make_synthetic_samples(3), FAST, time_budget_s=0.0, out_path=tmp_path / "t.pt", show_progress=False)
    assert res.steps == 0 and res.checkpoint_path.is_file()


def test_paper_crop_mode_runs(tmp_path):
    cfg = TrainConfig(batch_size=2, crop_mode="paper", max_steps=2, warmup_steps=1, eval_every=100)
    res = fit(make_synthetic_samples(3), cfg, ModelConfig(prior=False), out_path=tmp_path / "p.pt", show_progress=False)
    assert res.steps == 2


def test_lr_schedule_warms_up_then_decays_to_min():
    tc = TrainConfig(lr=1e-3, min_lr=1e-5, warmup_steps=10)
    assert _lr_at(0.0, 0, tc) == pytest.approx(1e-4)
    assert _lr_at(0.01, 10, tc) == pytest.approx(1e-3, rel=1e-3)
    assert _lr_at(0.5, 500, tc) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert _lr_at(1.0, 1000, tc) == pytest.approx(1e-5)


def test_selection_prefers_pd100_fat0_over_higher_iou():
    clean = {"iou": 70.0, "pd": 100.0, "fat": 0.0}
    merged = {"iou": 75.0, "pd": 98.0, "fat": 0.0}
    assert _selection_key(clean) > _selection_key(merged)
    assert _selection_key({"iou": 71.0, "pd": 100.0, "fat": 0.0}) > _selection_key(clean)


def test_finetune_preset_lowers_lr_and_accepts_overrides():
    tc = TrainConfig.for_finetune(max_steps=50)
    assert tc.lr < TrainConfig().lr and tc.max_steps == 50 and tc.warmup_steps < TrainConfig().warmup_steps
