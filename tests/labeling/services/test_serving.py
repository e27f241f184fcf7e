"""Serving: putting a version in service by hand (promote, roll back, retire) and what each version serves."""

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from labeling import ml_adapter
from labeling.choices import GeneratorKind, ModelStatus, Role
from labeling.exceptions import ApplicationError
from labeling.models import ModelVersion
from labeling.services.serving import generator_spec, model_version_promote, model_version_retire
from tests.factories import MembershipFactory, ModelVersionFactory
from tests.labeling.frames import loop_project

pytestmark = pytest.mark.django_db


def _finished_version(project, number: int, status: str) -> ModelVersion:
    relative = f"models/{project.pk}/v{number}.pt"
    Path(default_storage.path(relative)).parent.mkdir(parents=True, exist_ok=True)
    Path(default_storage.path(relative)).write_bytes(b"weights")
    return ModelVersionFactory(project=project, number=number, checkpoint=relative, status=status)


def test_rollback_to_any_earlier_version_in_one_action_and_back_to_cold_start():
    project, manager = loop_project()
    v1 = _finished_version(project, 1, ModelStatus.RETIRED)
    v2 = _finished_version(project, 2, ModelStatus.REJECTED)
    v3 = _finished_version(project, 3, ModelStatus.RETIRED)
    model_version_promote(version=v3, actor=manager)
    assert generator_spec(project).model_version_id == v3.pk
    model_version_promote(version=v1, actor=manager)
    statuses = dict(ModelVersion.objects.filter(project=project).values_list("pk", "status"))
    assert statuses == {v1.pk: ModelStatus.PROMOTED, v2.pk: ModelStatus.REJECTED, v3.pk: ModelStatus.RETIRED}
    assert generator_spec(project).model_version_id == v1.pk
    model_version_retire(version=v1, actor=manager)
    assert generator_spec(project).method == ml_adapter.COLDSTART


def test_a_calibrated_cold_start_version_serves_its_own_settings():
    project, manager = loop_project()
    version = ModelVersionFactory(
        project=project, number=1, kind=GeneratorKind.COLDSTART, checkpoint="", status=ModelStatus.CANDIDATE,
        params={"alpha": 0.07, "use_grabcut": True, "size_rule": False},
    )  # fmt: skip
    model_version_promote(version=version, actor=manager)  # no checkpoint needed for a cold start
    spec = generator_spec(project)
    assert (spec.method, spec.alpha, spec.use_grabcut, spec.size_rule, spec.model_version_id) == (
        ml_adapter.COLDSTART, 0.07, True, False, version.pk,
    )  # fmt: skip


def test_promote_refuses_unfinished_or_missing_checkpoints_and_non_managers():
    project, manager = loop_project()
    annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    training = ModelVersionFactory(project=project, number=1, checkpoint="", status=ModelStatus.TRAINING)
    missing = ModelVersionFactory(project=project, number=2, checkpoint="models/gone.pt", status=ModelStatus.RETIRED)
    with pytest.raises(ApplicationError, match="not finished training"):
        model_version_promote(version=training, actor=manager)
    with pytest.raises(ApplicationError, match="checkpoint .* is missing"):
        model_version_promote(version=missing, actor=manager)
    with pytest.raises(ApplicationError, match="manager role"):
        model_version_promote(version=_finished_version(project, 3, ModelStatus.RETIRED), actor=annotator)
    assert not ModelVersion.objects.filter(project=project, status=ModelStatus.PROMOTED).exists()
