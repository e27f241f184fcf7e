"""Fuzz fixtures: a project world (owner token, image, targets, masks, jobs) and in-process WSGI requests."""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.choices import JobKind, JobStatus, MaskState, Role
from labeling.models import AuditLog, Image, Job, Mask, MaskRevision, Membership, Project, Target
from tests.factories import (
    ImageFactory,
    JobFactory,
    MaskFactory,
    MembershipFactory,
    ModelVersionFactory,
    TargetFactory,
    gradient,
    png_bytes,
)

# Rows a rejected request must leave as they were ("nothing stored on rejection").
COUNTED = (Project, Membership, Image, Target, Mask, MaskRevision, Job, AuditLog)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


@dataclass
class World:
    """Ids of one project's objects, owned by the token's user: what the fuzzer's path parameters point at."""

    token: str
    owner_id: int
    project_id: int
    image_id: int
    target_id: int
    membership_id: int
    job_id: int
    version_id: int
    height: int
    width: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def path_ids(self) -> dict[str, int]:
        return {
            "project_id": self.project_id,
            "image_id": self.image_id,
            "target_id": self.target_id,
            "membership_id": self.membership_id,
            "job_id": self.job_id,
            "version_id": self.version_id,
        }


@pytest.fixture
def world(db) -> World:
    """An owner with a token, a project with a 16x24 8-bit image, two targets (one masked, one confirmed), a
    second member, a finished export-less job and a candidate model version."""
    membership = MembershipFactory(role=Role.OWNER)
    owner, project = membership.user, membership.project
    viewer = MembershipFactory(project=project, role=Role.VIEWER)
    image = ImageFactory(project=project, data=png_bytes(gradient(16, 24, seed=3)))
    first = TargetFactory(image=image, x=5.0, y=4.0)
    second = TargetFactory(image=image, x=18.0, y=11.0)
    MaskFactory(target=first)
    raster = np.zeros((16, 24), bool)
    raster[10:13, 17:20] = True
    MaskFactory(target=second, raster=raster, state=MaskState.CONFIRMED)
    job = JobFactory(project=project, kind=JobKind.EXPORT, status=JobStatus.FAILED, created_by=owner)
    version = ModelVersionFactory(project=project)
    token = Token.objects.create(user=owner)
    return World(
        token=token.key,
        owner_id=owner.pk,
        project_id=project.pk,
        image_id=image.pk,
        target_id=first.pk,
        membership_id=viewer.pk,
        job_id=job.pk,
        version_id=version.pk,
        height=image.height,
        width=image.width,
    )


@pytest.fixture
def owner_client(world) -> APIClient:
    """An API client that authenticates as the world's owner with its token (the real auth path)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.token}")
    return client


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Requests served in this thread share the test's transaction: Django must not close the connection at the
    end of each one (its own test Client disconnects the same handlers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
