"""The permission matrix: every endpoint x method x role, from one declared table; and no endpoint without a row."""

import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from labeling import storage
from labeling.choices import ImageStatus, JobKind, JobStatus, Role
from labeling.models import Image
from labeling.services.datasets import export_path
from tests.factories import (
    ImageFactory,
    JobFactory,
    MaskFactory,
    MembershipFactory,
    ProjectFactory,
    TargetFactory,
    UserFactory,
    gradient,
    png_bytes,
)

ROLES = ["anonymous", "nonmember", "viewer", "annotator", "reviewer", "manager", "owner"]
MEMBER_ROLES = ROLES[2:]


def need(minimum: str, ok: int) -> tuple[int, ...]:
    """Anonymous 401, non-member 404, a member below `minimum` 403, the rest `ok`."""
    rank = MEMBER_ROLES.index(minimum)
    return (401, 404, *(ok if MEMBER_ROLES.index(role) >= rank else 403 for role in MEMBER_ROLES))


@dataclass
class World:
    project: Any
    users: dict[str, Any]
    image: Any
    target: Any
    mask: Any
    job: Any
    victim: Any  # an annotator's membership, for the member endpoints


@dataclass
class Rule:
    name: str
    method: str
    expected: tuple[int, ...]
    kwargs: Callable[[World], dict] = lambda w: {}
    data: Callable[[World, Any], Any] = lambda w, user: None
    format: str = "json"
    extra: dict = field(default_factory=dict)


def _project(w: World) -> dict:
    return {"project_id": w.project.pk}


def _image(w: World) -> dict:
    return {"image_id": w.image.pk}


def _target(w: World) -> dict:
    return {"target_id": w.target.pk}


def _victim_user(w: World) -> dict:
    return {"user_id": w.victim.user_id}


def _token_data(w: World, user: Any) -> dict:
    return {"username": user.username, "password": "pw"} if user else {"username": "nobody", "password": "x"}


def _upload(w: World, user: Any) -> dict:
    return {"files": [SimpleUploadedFile("new.png", png_bytes(gradient(seed=99)), "image/png")]}


def _new_member(w: World, user: Any) -> dict:
    return {"username": UserFactory().username, "role": "viewer"}


def _submitted(w: World, user: Any) -> dict:
    Image.objects.filter(pk=w.image.pk).update(status=ImageStatus.SUBMITTED)
    return {"comment": "no"}


def _mask_put(w: World, user: Any) -> dict:
    raster = np.zeros((w.image.height, w.image.width), bool)
    raster[1:3, 1:3] = True
    return {"version": 1, "rle": {"size": [w.image.height, w.image.width], "counts": storage.mask_encode(raster)[0]}}


def _confirmed(w: World, user: Any) -> None:
    Image.objects.filter(pk=w.image.pk).update(status=ImageStatus.CONFIRMED)


def _next_frame(w: World) -> dict:
    """A second frame of a sequence whose first frame is the world's image (with its target to carry)."""
    Image.objects.filter(pk=w.image.pk).update(sequence="seq", frame_index=1)
    frame = ImageFactory(project=w.project, pixels=gradient(seed=7), sequence="seq", frame_index=2)
    return {"image_id": frame.pk}


def _double_frame(w: World) -> dict:
    """The world's image labelled twice, blind (services.double)."""
    from django.utils import timezone

    from labeling.models import Submission

    first = Submission.objects.create(project=w.project, image=w.image, submitted_at=timezone.now(), blind_pass=1)
    Submission.objects.create(project=w.project, image=w.image, submitted_at=timezone.now(), blind_pass=2, peer=first)
    return {"image_id": w.image.pk}


def _suggestion(w: World) -> dict:
    from labeling.models import Suggestion

    return {"suggestion_id": Suggestion.objects.create(image=w.image, x=5, y=6, score=9.0, source="detector").pk}


def _finished_version(w: World) -> dict:
    """A trained version with its checkpoint file in place (promote and retire act on it)."""
    from django.core.files.storage import default_storage

    from labeling.models import ModelVersion

    path = default_storage.path(f"models/{w.project.pk}/v1.pt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"weights")
    version = ModelVersion.objects.create(
        project=w.project, number=1, arch="edgsp-small", checkpoint=f"models/{w.project.pk}/v1.pt", status="candidate"
    )
    return {"version_id": version.pk}


def _dataset_zip(w: World, user: Any) -> dict:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("images/new.png", png_bytes(gradient(seed=98)))
    return {"file": SimpleUploadedFile("dataset.zip", archive.getvalue(), "application/zip")}


def _finished_export(w: World) -> dict:
    job = JobFactory(project=w.project, kind=JobKind.EXPORT, status=JobStatus.SUCCEEDED)
    path = Path(settings.MEDIA_ROOT) / export_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    return {"job_id": job.pk}


READ = need("viewer", 200)

RULES = [
    Rule("auth-token", "post", (400, 200, 200, 200, 200, 200, 200), data=_token_data),
    Rule("me", "get", (401, 200, 200, 200, 200, 200, 200)),
    Rule("project-list", "get", (401, 200, 200, 200, 200, 200, 200)),
    Rule("project-list", "post", (401, 201, 201, 201, 201, 201, 201), data=lambda w, u: {"name": "mine"}),
    Rule("project-detail", "get", READ, _project),
    Rule("project-detail", "patch", need("manager", 200), _project, lambda w, u: {"version": 1, "name": "renamed"}),
    Rule("project-detail", "delete", need("owner", 204), _project),
    Rule("member-list", "get", READ, _project),
    Rule("member-list", "post", need("manager", 201), _project, _new_member),
    Rule("member-detail", "get", READ, lambda w: {**_project(w), "membership_id": w.victim.pk}),
    Rule(
        "member-detail",
        "patch",
        need("manager", 200),
        lambda w: {**_project(w), "membership_id": w.victim.pk},
        lambda w, u: {"role": "reviewer"},
    ),
    Rule("member-detail", "delete", need("manager", 204), lambda w: {**_project(w), "membership_id": w.victim.pk}),
    Rule("member-invite", "post", need("manager", 201), _project, lambda w, u: {"username": "new1", "role": "viewer"}),
    # people: visible to whoever shares a project with them (others 404), managed by their projects' managers
    Rule("user-list", "get", (401, 200, 200, 200, 200, 200, 200)),
    Rule("user-detail", "get", need("manager", 200), _victim_user),
    Rule("user-detail", "patch", need("manager", 200), _victim_user, lambda w, u: {"is_active": False}),
    Rule("user-password-reset", "post", need("manager", 200), _victim_user),
    Rule("image-list", "get", READ, _project),
    Rule("image-list", "post", need("manager", 201), _project, _upload, format="multipart"),
    Rule("image-claim", "post", need("annotator", 200), _project),
    Rule("job-list", "get", READ, _project),
    Rule("model-version-list", "get", READ, _project),
    Rule("project-stats", "get", READ, _project),
    Rule("project-quality", "get", READ, _project),
    Rule("gallery-list", "get", READ, _project),
    Rule("audit-list", "get", need("manager", 200), _project),
    Rule("project-calibration", "get", READ, _project),
    # the world has no confirmed images: a manager is allowed but told calibration needs 15
    Rule("project-calibration", "post", need("manager", 400), _project),
    Rule("image-detail", "get", READ, _image),
    Rule("image-detail", "patch", need("manager", 200), _image, lambda w, u: {"version": 1, "split": "val"}),
    Rule("image-detail", "delete", need("manager", 204), _image),
    Rule("image-file", "get", READ, _image),
    Rule("image-pixels", "get", READ, _image),
    Rule("target-list", "get", READ, _image),
    Rule("target-list", "post", need("annotator", 201), _image, lambda w, u: {"x": 1.5, "y": 2}),
    Rule(
        "target-list",
        "put",
        need("annotator", 200),
        _image,
        lambda w, u: {"version": w.image.version, "points": [{"id": w.target.pk, "x": 1, "y": 1}]},
    ),
    Rule("image-masks", "get", READ, _image),
    Rule("image-generation", "get", READ, _image),
    Rule("image-generation", "post", need("annotator", 202), _image),
    Rule("image-submit", "post", need("annotator", 200), _image),
    Rule("image-confirm", "post", need("reviewer", 200), _image),
    Rule("image-reject", "post", need("reviewer", 200), _image, _submitted),
    Rule("target-detail", "get", READ, _target),
    Rule("target-detail", "patch", need("annotator", 200), _target, lambda w, u: {"version": 1, "x": 2}),
    Rule("target-detail", "delete", need("annotator", 204), _target),
    Rule("target-mask", "get", READ, _target),
    Rule("target-mask", "put", need("annotator", 200), _target, _mask_put),
    Rule("mask-confirm", "post", need("reviewer", 200), _target),
    Rule("mask-reject", "post", need("reviewer", 200), _target, lambda w, u: {"comment": "too big"}),
    Rule("target-crop", "get", READ, _target),
    Rule("job-detail", "get", READ, lambda w: {"job_id": w.job.pk}),
    Rule("job-cancel", "post", need("manager", 200), lambda w: {"job_id": w.job.pk}),
    Rule("dataset-import", "post", need("manager", 202), _project, _dataset_zip, format="multipart"),
    Rule("dataset-export", "post", need("manager", 202), _project, lambda w, u: {"formats": ["sirst"]}),
    Rule("dataset-export-download", "get", need("manager", 200), _finished_export),
    Rule("model-train", "post", need("manager", 202), _project, _confirmed),
    Rule("project-prelabel", "post", need("manager", 202), _project, lambda w, u: {}),
    Rule("project-suggestion-detect", "post", need("manager", 202), _project, lambda w, u: {}),
    Rule("project-rank", "post", need("manager", 202), _project, lambda w, u: {}),
    Rule("project-qa", "get", need("reviewer", 200), _project),
    Rule("image-double", "get", need("reviewer", 200), _double_frame),
    Rule("suggestion-list", "get", READ, _image),
    Rule("suggestion-detect", "post", need("annotator", 202), _image),
    Rule("suggestion-accept-all", "post", need("annotator", 200), _image),
    Rule("suggestion-carry", "post", need("annotator", 200), _next_frame),
    Rule("suggestion-accept", "post", need("annotator", 201), _suggestion),
    Rule("suggestion-reject", "post", need("annotator", 200), _suggestion),
    Rule("model-version-promote", "post", need("manager", 200), _finished_version),
    Rule("model-version-retire", "post", need("manager", 200), _finished_version),
]


def make_world(project) -> World:
    """One member per role, a non-member, and one object of every kind in `project`."""
    users = {role: MembershipFactory(project=project, role=role).user for role in MEMBER_ROLES}
    users["nonmember"] = UserFactory()
    users["anonymous"] = None
    image = ImageFactory(project=project)
    target = TargetFactory(image=image)
    return World(
        project=project,
        users=users,
        image=image,
        target=target,
        mask=MaskFactory(target=target),
        job=JobFactory(project=project),
        victim=MembershipFactory(project=project, role=Role.ANNOTATOR),
    )


@pytest.fixture
def world(db) -> World:
    return make_world(ProjectFactory())


CELLS = [(rule, index, role) for rule in RULES for index, role in enumerate(ROLES)]


@pytest.mark.parametrize(
    ("rule", "index", "role"), CELLS, ids=[f"{r.method.upper()} {r.name} as {role}" for r, _, role in CELLS]
)
def test_permission_cell(world, client_for, rule, index, role):
    user = world.users[role]
    url = reverse(rule.name, kwargs=rule.kwargs(world))
    data = rule.data(world, user)
    response = getattr(client_for(user), rule.method)(url, data=data, format=rule.format)
    expected = rule.expected[index]
    body = b"(streamed)" if response.streaming else response.content[:300]
    assert response.status_code == expected, f"{rule.method.upper()} {url} as {role}: {response.status_code} {body}"
    if expected >= 400:
        assert set(response.json()) == {"message", "extra"}
    if expected == 401:
        assert response.has_header("WWW-Authenticate")


def _labeling_endpoints() -> set[tuple[str, str]]:
    """(url name, method) of every view under the labeling URL conf, found by walking the resolver."""
    found: set[tuple[str, str]] = set()

    def walk(patterns: list, inside: bool) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, inside or getattr(pattern.urlconf_module, "__name__", "") == "labeling.urls")
            elif isinstance(pattern, URLPattern) and inside:
                view = getattr(pattern.callback, "cls", None) or pattern.callback.view_class
                for method in view.http_method_names:
                    if method not in ("options", "head", "trace") and hasattr(view, method):
                        found.add((pattern.name, method))

    walk(get_resolver().url_patterns, False)
    return found


def test_every_endpoint_has_a_rule():
    declared = {(rule.name, rule.method) for rule in RULES}
    endpoints = _labeling_endpoints()
    assert len(endpoints) > 30
    assert endpoints - declared == set(), "endpoints without a row in the permission matrix"
    assert declared - endpoints == set(), "rows for endpoints that no longer exist"


def test_every_row_is_complete():
    for rule in RULES:
        assert len(rule.expected) == len(ROLES), rule.name
