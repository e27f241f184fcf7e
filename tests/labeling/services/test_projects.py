"""project_create / project_update / project_delete and the membership rules."""

import pytest

from labeling.choices import Role
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, Membership, Project
from labeling.services import (
    membership_add,
    membership_remove,
    membership_update_role,
    project_create,
    project_delete,
    project_settings,
    project_update,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_project_create_makes_the_creator_owner():
    user = UserFactory()
    project = project_create(name="Sky", actor=user, settings={"generator": {"alpha": 0.3}})
    assert Membership.objects.get(project=project, user=user).role == Role.OWNER
    assert project_settings(project)["generator"]["alpha"] == 0.3
    assert project_settings(project)["point_style"]["radius"] == 4
    assert AuditLog.objects.filter(action="project.create").exists()


def test_project_update_merges_settings_and_checks_version(project, manager):
    project = project_update(
        project=project, actor=manager, version=1, name="New", settings={"generator": {"alpha": 0.7}}
    )
    assert (project.name, project.version, project.settings) == ("New", 2, {"generator": {"alpha": 0.7}})
    with pytest.raises(ConflictError) as caught:
        project_update(project=project, actor=manager, version=1, name="Lost")
    assert caught.value.extra["current_version"] == 2
    project.refresh_from_db()
    assert project.name == "New"
    project = project_update(project=project, actor=manager, version=2, settings={"generator": None})
    assert project.settings == {}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"generator": {"alpha": 1.0}},
        {"generator": {"alpha": "x"}},
        {"point_style": 3},
        {"point_style": {"radius": 0}},
    ],
)
def test_project_update_validates_settings(project, manager, bad):
    with pytest.raises(ApplicationError):
        project_update(project=project, actor=manager, version=1, settings=bad)


def test_project_delete_owner_only(project, manager, owner):
    with pytest.raises(ApplicationError) as caught:
        project_delete(project=project, actor=manager)
    assert caught.value.status_code == 403
    project_delete(project=project, actor=owner)
    assert not Project.objects.filter(pk=project.pk).exists()


def test_membership_add_and_rules(project, owner, manager):
    user = UserFactory()
    membership = membership_add(project=project, username=user.username, role="annotator", actor=manager)
    assert membership.role == Role.ANNOTATOR
    with pytest.raises(ConflictError):
        membership_add(project=project, username=user.username, role="viewer", actor=manager)
    with pytest.raises(ApplicationError) as caught:
        membership_add(project=project, username="nobody", role="viewer", actor=manager)
    assert caught.value.status_code == 404
    with pytest.raises(ApplicationError) as caught:
        membership_update_role(membership=membership, role=Role.OWNER, actor=manager)
    assert caught.value.status_code == 403
    with pytest.raises(ApplicationError) as caught:
        membership_update_role(membership=membership, role="boss", actor=owner)
    assert caught.value.status_code == 400
    assert membership_update_role(membership=membership, role=Role.OWNER, actor=owner).role == Role.OWNER


def test_last_owner_cannot_leave_or_be_demoted(project, owner):
    membership = Membership.objects.get(project=project, user=owner)
    with pytest.raises(ConflictError):
        membership_update_role(membership=membership, role=Role.MANAGER, actor=owner)
    with pytest.raises(ConflictError):
        membership_remove(membership=membership, actor=owner)
    second = membership_add(project=project, username=UserFactory().username, role=Role.OWNER, actor=owner)
    membership_remove(membership=membership, actor=second.user)
    assert list(project.memberships.values_list("role", flat=True)) == [Role.OWNER]


def test_manager_cannot_remove_an_owner(project, owner, manager):
    with pytest.raises(ApplicationError) as caught:
        membership_remove(membership=Membership.objects.get(user=owner), actor=manager)
    assert caught.value.status_code == 403
