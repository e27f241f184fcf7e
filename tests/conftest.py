"""Shared fixtures: temporary media, users with a role in a project, API clients."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from labeling.choices import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

# The real-worker fixture is registered once here, so the whole session shares ONE worker process
# (a fixture imported into several modules would start one worker per module, all on the same queues).
pytest_plugins = ["tests.celery_worker"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def member(project) -> Callable:
    """member(role) -> a new user with that role in `project`."""

    def make(role: str = Role.VIEWER, in_project=None):
        return MembershipFactory(project=in_project or project, role=role).user

    return make


@pytest.fixture
def owner(member):
    return member(Role.OWNER)


@pytest.fixture
def manager(member):
    return member(Role.MANAGER)


@pytest.fixture
def reviewer(member):
    return member(Role.REVIEWER)


@pytest.fixture
def annotator(member):
    return member(Role.ANNOTATOR)


@pytest.fixture
def viewer(member):
    return member(Role.VIEWER)


@pytest.fixture
def outsider(db):
    return UserFactory()


@pytest.fixture
def client_for() -> Callable:
    """client_for(user) -> an APIClient authenticated as `user` (None: anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
