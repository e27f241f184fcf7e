"""Checkpoint round trip; corrupted files and other architectures give a clear ValueError."""

import pytest
import torch

from ml.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint, update_checkpoint_meta
from ml.config import ModelConfig
from ml.models import build_model


def test_round_trip_keeps_weights_config_and_meta(tmp_path):
    torch.manual_seed(1)
    model = build_model(ModelConfig(size="small", prior=False, edge="sobel"))
    path = save_checkpoint(tmp_path / "m.pt", model, {"data_hash": "abc", "metrics": {"iou": 1.5}})
    loaded, payload = load_checkpoint(path)
    assert loaded.config == model.config and not loaded.training
    assert payload["meta"]["metrics"]["iou"] == 1.5 and payload["ml_version"]
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_corrupted_file_raises_value_error(tmp_path, tiny_checkpoint):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match="corrupted"):
        load_checkpoint(bad)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="corrupted or not a checkpoint"):
        load_checkpoint(junk)


def test_missing_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_foreign_torch_file_is_not_an_edgsp_checkpoint(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": build_model().state_dict()}, path)
    with pytest.raises(ValueError, match="not an EDGSP checkpoint"):
        load_checkpoint(path)


def test_weights_of_another_architecture_raise_value_error(tmp_path, tiny_checkpoint):
    payload = read_checkpoint(tiny_checkpoint)
    payload["model_config"]["size"] = "base"  # small weights under a base config
    path = tmp_path / "mismatch.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="does not match the base EDGSP architecture"):
        load_checkpoint(path)
    payload["model_config"]["width"] = 3
    torch.save(payload, path)
    with pytest.raises(ValueError, match="unusable model config"):
        load_checkpoint(path)


def test_update_checkpoint_meta_merges_and_keeps_weights(tmp_path, tiny_checkpoint):
    path = tmp_path / "c.pt"
    path.write_bytes(tiny_checkpoint.read_bytes())
    update_checkpoint_meta(path, {"verdict": "keep cold start"}, {"coldstart_params": {"alpha": 0.4}})
    model, payload = load_checkpoint(path)
    assert payload["meta"]["verdict"] == "keep cold start" and payload["meta"]["model_version"] == "tiny"
    assert model.config.coldstart_params == {"alpha": 0.4}
