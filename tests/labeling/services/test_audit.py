"""audit_log, and that the state-changing services write it."""

import pytest

from labeling.models import AuditLog
from labeling.services import audit_log, image_update, target_add
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def test_audit_log_records_object_and_actor(project, manager):
    image = ImageFactory(project=project)
    entry = audit_log(actor=manager, project=project.pk, action="image.touch", obj=image, data={"why": "test"})
    assert (entry.project_id, entry.actor_id, entry.object_type, entry.object_id) == (
        project.pk,
        manager.pk,
        "image",
        str(image.pk),
    )


def test_system_actor_is_null(project):
    assert audit_log(actor=None, project=project, action="x", obj=project).actor_id is None


def test_services_write_the_log(project, manager):
    image = ImageFactory(project=project)
    image_update(image=image, actor=manager, version=1, split="val")
    target_add(image=image, x=1, y=1, actor=manager)
    actions = list(AuditLog.objects.filter(project=project).order_by("id").values_list("action", flat=True))
    assert actions == ["image.split", "target.add", "image.status"]  # new -> in_progress on the first target
