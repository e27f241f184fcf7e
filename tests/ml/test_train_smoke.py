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


class _Stop(Exception):
    pass


def test_a_stopped_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path, synthetic_dir):
    """Kill after the state written at step 6, resume: bit-identical weights and history to one straight run."""
    straight = fit(synthetic_dir, FAST, ModelConfig(size="small"), out_path=tmp_path / "a.pt", show_progress=False)

    def stop_at_6(record):
        if record["step"] == 6:
            raise _Stop

    state = tmp_path / "run.state.pt"
    with pytest.raises(_Stop):
        fit(synthetic_dir, FAST, ModelConfig(size="small"), out_path=tmp_path / "b.pt", show_progress=False,
            state_path=state, progress_callback=stop_at_6)  # fmt: skip
    assert state.is_file()
    resumed = fit(synthetic_dir, FAST, ModelConfig(size="small"), out_path=tmp_path / "b.pt", show_progress=False,
                  state_path=state, resume=True)  # fmt: skip
    assert resumed.steps == straight.steps == 12
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    a, _ = load_checkpoint(straight.checkpoint_path)
    b, _ = load_checkpoint(resumed.checkpoint_path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_resume_refuses_a_state_from_other_settings_or_data(tmp_path, synthetic_dir):
    state = tmp_path / "run.state.pt"
    fit(synthetic_dir, FAST, ModelConfig(size="small"), out_path=tmp_path / "m.pt", show_progress=False,
        state_path=state)  # fmt: skip
    other = TrainConfig(**{**FAST.to_dict(), "lr": 1e-2})
    with pytest.raises(ValueError, match="lr differ"):
        fit(synthetic_dir, other, out_path=tmp_path / "m.pt", show_progress=False, state_path=state, resume=True)
    with pytest.raises(ValueError, match="other data"):
        fit(make_synthetic_samples(9, seed=3), FAST, out_path=tmp_path / "m.pt", show_progress=False,
            state_path=state, resume=True)  # fmt: skip
    state.write_bytes(b"not a state")
    with pytest.raises(ValueError, match="corrupted"):
        fit(synthetic_dir, FAST, out_path=tmp_path / "m.pt", show_progress=False, state_path=state, resume=True)


def test_resume_may_extend_the_run(tmp_path, synthetic_dir):
    state = tmp_path / "run.state.pt"
    fit(synthetic_dir, FAST, ModelConfig(size="small"), out_path=tmp_path / "m.pt", show_progress=False,
        state_path=state)  # fmt: skip
    longer = TrainConfig(**{**FAST.to_dict(), "max_steps": 18})
    res = fit(synthetic_dir, longer, out_path=tmp_path / "m.pt", show_progress=False, state_path=state, resume=True)
    assert res.steps == 18 and [h["step"] for h in res.history if "max_steps" in h] == list(range(1, 19))


def test_select_fraction_zero_trains_on_every_sample_and_keeps_the_last_weights(tmp_path, synthetic_dir):
    cfg = TrainConfig(**{**FAST.to_dict(), "select_fraction": 0.0})
    res = fit(synthetic_dir, cfg, ModelConfig(size="small"), out_path=tmp_path / "all.pt", show_progress=False)
    meta = load_checkpoint(res.checkpoint_path)[1]["meta"]
    assert meta["n_train"] == 10 and meta["selection_ids"] == []
    assert res.chosen_step == res.steps == 12 and res.metrics == {}
    assert not any("selection" in h for h in res.history)
    with pytest.raises(ValueError, match="select_fraction"):
        fit(synthetic_dir, TrainConfig(select_fraction=1.0), out_path=tmp_path / "x.pt", show_progress=False)


def test_coldstart_overrides_drive_the_training_prior_and_survive_a_round_trip(tmp_path, tiny_checkpoint, monkeypatch):
    import ml.sampling

    seen, real = [], ml.sampling.make_prior

    def spy(image, points, params):  # noqa: ANN001, ANN202
        seen.append((params.alpha, params.use_grabcut))
        return real(image, points, params)

    monkeypatch.setattr(ml.sampling, "make_prior", spy)
    new = make_synthetic_samples(3, seed=9)
    res = fit(new, FAST, init_checkpoint=tiny_checkpoint, out_path=tmp_path / "o.pt", show_progress=False,
              coldstart_overrides={"alpha": 0.2, "use_grabcut": True})  # fmt: skip
    assert set(seen) == {(0.2, True)}
    model, payload = load_checkpoint(res.checkpoint_path)
    assert model.config.coldstart_params["alpha"] == 0.2 and model.config.coldstart_params["use_grabcut"] is True
    assert payload["meta"]["coldstart_overrides"] == {"alpha": 0.2, "use_grabcut": True}
    p = Predictor.load(res.checkpoint_path, "cpu")
    assert p.coldstart_params.alpha == 0.2 and p.coldstart_params.use_grabcut
    seen.clear()  # a later fine-tune without overrides keeps them
    again = fit(new, FAST, init_checkpoint=res.checkpoint_path, out_path=tmp_path / "o2.pt", show_progress=False)
    assert set(seen) == {(0.2, True)}
    assert load_checkpoint(again.checkpoint_path)[0].config.coldstart_params["alpha"] == 0.2
    with pytest.raises(ValueError, match="tightness"):
        fit(new, FAST, out_path=tmp_path / "x.pt", show_progress=False, coldstart_overrides={"tightness": 0.1})


def test_prior_style_training_records_its_table(tmp_path, tiny_checkpoint):
    new = make_synthetic_samples(4, seed=9)
    plain = fit(new, FAST, init_checkpoint=tiny_checkpoint, out_path=tmp_path / "p.pt", show_progress=False)
    assert load_checkpoint(plain.checkpoint_path)[1]["meta"]["prior_follows_alpha"] is False
    cfg = TrainConfig(**{**FAST.to_dict(), "prior_style_prob": 0.5})
    res = fit(new, cfg, init_checkpoint=tiny_checkpoint, out_path=tmp_path / "s.pt", show_progress=False)
    meta = load_checkpoint(res.checkpoint_path)[1]["meta"]
    assert meta["prior_follows_alpha"] is True and meta["prior_style_default_alpha"] == 0.35
    assert set(meta["prior_style_alphas"]) == {"erode1", "dilate1", "dilate2", "dilate3"}
    assert meta["prior_style_alphas"]["dilate1"] < 0.35 < meta["prior_style_alphas"]["erode1"]
    json.dumps(meta)


def test_loader_workers_train_too(tmp_path):
    cfg = TrainConfig(**{**FAST.to_dict(), "loader_workers": 1, "max_steps": 3})
    res = fit(make_synthetic_samples(3), cfg, out_path=tmp_path / "w.pt", show_progress=False)
    assert res.steps == 3 and res.checkpoint_path.is_file()


def test_prior_style_selection_scores_every_style_at_its_alpha(tmp_path, synthetic_dir):
    cfg = TrainConfig(**{**FAST.to_dict(), "prior_style_prob": 0.5})
    res = fit(synthetic_dir, cfg, ModelConfig(size="small"), out_path=tmp_path / "s.pt", show_progress=False)
    m, meta = res.metrics, load_checkpoint(res.checkpoint_path)[1]["meta"]
    assert set(m["iou_by_style"]) == set(meta["prior_style_used"]) and len(meta["prior_style_used"]) >= 2
    assert m["iou"] == pytest.approx(0.5 * m["iou_default_prior"] + 0.5 * np.mean(list(m["iou_by_style"].values())))
    assert all("iou_by_style" in h["selection"] for h in res.history if "selection" in h)


def test_cluster_selection_takes_its_share_of_the_iou_from_dense_copies(tmp_path):
    frames = make_synthetic_samples(10, seed=8, shape=(128, 128))
    cfg = TrainConfig(**{**FAST.to_dict(), "select_cluster_share": 0.25})
    res = fit(frames, cfg, ModelConfig(size="small"), out_path=tmp_path / "c.pt", show_progress=False)
    m = res.metrics
    assert m["iou"] == pytest.approx(0.75 * m["iou_frames"] + 0.25 * m["iou_dense"])
    assert m["iou_dense"] != pytest.approx(m["iou_frames"])  # the copies are other frames, scored apart
    assert all("iou_dense" in h["selection"] for h in res.history if "selection" in h)
    with pytest.raises(ValueError, match="select_cluster_share"):
        fit(frames, TrainConfig(**{**FAST.to_dict(), "select_cluster_share": 1.5}), show_progress=False)
