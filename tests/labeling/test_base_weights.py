"""EDGSP_WEIGHTS: a site's own base weights replace the shipped ones everywhere, and a wrong path fails loudly."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from labeling.checks import base_weights_check
from labeling.services.serving import base_weights, base_weights_seen
from ml.checkpoints import update_checkpoint_meta
from ml.inference import DEFAULT_WEIGHTS


def test_unset_means_the_shipped_weights(settings):
    settings.EDGSP_WEIGHTS = ""
    assert base_weights() == DEFAULT_WEIGHTS
    assert base_weights_check() == []


def test_a_sites_own_weights_and_the_frames_they_saw_replace_the_shipped_ones(settings, tmp_path):
    own = tmp_path / "site_base.pt"
    own.write_bytes(DEFAULT_WEIGHTS.read_bytes())
    update_checkpoint_meta(own, {"seen_sha256": ["ab" * 32]})
    settings.EDGSP_WEIGHTS = str(own)
    assert base_weights() == own
    assert base_weights_seen() == frozenset({"ab" * 32})  # the leak guard follows the base
    assert base_weights_check() == []


def test_a_missing_path_fails_the_system_check_naming_it(settings, tmp_path):
    settings.EDGSP_WEIGHTS = str(tmp_path / "typo.pt")
    (error,) = base_weights_check()
    assert error.id == "labeling.E001" and "typo.pt is not a file" in error.msg
    with pytest.raises(SystemCheckError, match="typo.pt"):
        call_command("check")
