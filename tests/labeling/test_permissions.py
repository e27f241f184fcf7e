"""The role rule has one owner: every write service refuses a member below the role it needs (403) and changes
nothing; the shell and the admin site act as the operator. The API matrix (apis/test_permission_matrix.py) checks
the same table end to end; this checks it where it lives, without HTTP."""

import io
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from labeling import selectors
from labeling.choices import ImageStatus, JobKind, JobStatus, Role
from labeling.exceptions import ApplicationError
from labeling.models import AuditLog, Image, Job, Membership, Target
from labeling.permissions import operator, require_role
from labeling.services import datasets, generation, images, jobs, masks, projects, targets, users
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

pytestmark = pytest.mark.django_db

BELOW = {Role.ANNOTATOR: Role.VIEWER, Role.REVIEWER: Role.ANNOTATOR, Role.MANAGER: Role.REVIEWER}


@pytest.fixture
def world():
    project = ProjectFactory()
    image = ImageFactory(project=project, status=ImageStatus.SUBMITTED)
    target = TargetFactory(image=image)
    mask = MaskFactory(target=target)
    job = JobFactory(project=project, kind=JobKind.PRELABEL, status=JobStatus.RUNNING)
    victim = MembershipFactory(project=project, role=Role.ANNOTATOR)
    return {"project": project, "image": image, "target": target, "mask": mask, "job": job, "victim": victim}


def _zip() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("images/a.png", png_bytes(gradient()))
    return SimpleUploadedFile("set.zip", buffer.getvalue())


CALLS: list[tuple[str, str, Callable[[dict, Any], Any]]] = [
    ("target_add", Role.ANNOTATOR, lambda w, a: targets.target_add(image=w["image"], x=3, y=3, actor=a)),
    ("target_move", Role.ANNOTATOR, lambda w, a: targets.target_move(target=w["target"], actor=a, version=1, x=2)),
    ("target_delete", Role.ANNOTATOR, lambda w, a: targets.target_delete(target=w["target"], actor=a)),
    (
        "targets_replace",
        Role.ANNOTATOR,
        lambda w, a: targets.targets_replace(image=w["image"], points=[], version=w["image"].version, actor=a),
    ),
    (
        "mask_replace",
        Role.ANNOTATOR,
        lambda w, a: masks.mask_replace(
            target=w["target"], raster=np.ones((16, 24), bool), version=w["mask"].version, actor=a
        ),
    ),
    ("mask_confirm", Role.REVIEWER, lambda w, a: masks.mask_confirm(mask=w["mask"], actor=a)),
    ("mask_reject", Role.REVIEWER, lambda w, a: masks.mask_reject(mask=w["mask"], actor=a)),
    ("image_regenerate", Role.ANNOTATOR, lambda w, a: generation.image_regenerate(image=w["image"], actor=a)),
    ("image_claim", Role.ANNOTATOR, lambda w, a: images.image_claim(project=w["project"], actor=a)),
    ("image_submit", Role.ANNOTATOR, lambda w, a: images.image_submit(image=w["image"], actor=a)),
    ("image_confirm", Role.REVIEWER, lambda w, a: images.image_confirm(image=w["image"], actor=a)),
    ("image_reject", Role.REVIEWER, lambda w, a: images.image_reject(image=w["image"], actor=a)),
    (
        "image_update",
        Role.MANAGER,
        lambda w, a: images.image_update(image=w["image"], actor=a, version=w["image"].version, split="val"),
    ),
    ("image_delete", Role.MANAGER, lambda w, a: images.image_delete(image=w["image"], actor=a)),
    (
        "images_upload",
        Role.MANAGER,
        lambda w, a: images.images_upload(
            project=w["project"], files=[("b.png", png_bytes(gradient(seed=9)))], actor=a
        ),
    ),
    ("job_cancel", Role.MANAGER, lambda w, a: jobs.job_cancel(job=w["job"], actor=a)),
    (
        "project_update",
        Role.MANAGER,
        lambda w, a: projects.project_update(project=w["project"], actor=a, version=w["project"].version, name="x"),
    ),
    (
        "membership_add",
        Role.MANAGER,
        lambda w, a: projects.membership_add(
            project=w["project"], username=UserFactory().username, role=Role.VIEWER, actor=a
        ),
    ),
    (
        "membership_update_role",
        Role.MANAGER,
        lambda w, a: projects.membership_update_role(membership=w["victim"], role=Role.VIEWER, actor=a),
    ),
    ("membership_remove", Role.MANAGER, lambda w, a: projects.membership_remove(membership=w["victim"], actor=a)),
    (
        "user_invite",
        Role.MANAGER,
        lambda w, a: users.user_invite(project=w["project"], actor=a, username="newcomer", role=Role.VIEWER),
    ),
    (
        "dataset_import_request",
        Role.MANAGER,
        lambda w, a: datasets.dataset_import_request(project=w["project"], upload=_zip(), actor=a, enqueue=False),
    ),
    (
        "dataset_export_request",
        Role.MANAGER,
        lambda w, a: datasets.dataset_export_request(project=w["project"], actor=a, enqueue=False),
    ),
]


def _state() -> tuple:
    """Everything a refused call could have touched."""
    return (
        AuditLog.objects.count(),
        Job.objects.count(),
        Membership.objects.count(),
        list(Image.objects.order_by("pk").values_list("pk", "version", "status", "split", "assigned_to_id")),
        list(Target.objects.order_by("pk").values_list("pk", "x", "y", "version")),
    )


@pytest.mark.parametrize(("name", "minimum", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_a_member_below_the_role_is_refused_and_nothing_changes(world, name, minimum, call):
    weaker = MembershipFactory(project=world["project"], role=BELOW[minimum]).user
    before = _state()
    with pytest.raises(ApplicationError) as refused:
        call(world, weaker)
    assert refused.value.status_code == 403 and refused.value.extra["required_role"] == minimum
    assert _state() == before


@pytest.mark.parametrize(("name", "minimum", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_a_member_with_the_role_gets_past_the_check(world, name, minimum, call):
    """The other side: the same call by a member holding exactly `minimum` is not refused for its role (it may still
    fail for its own reasons, e.g. the separate-reviewer rule, but never with the role error)."""
    holder = MembershipFactory(project=world["project"], role=minimum).user
    refused = None
    try:
        call(world, holder)
    except ApplicationError as exc:
        refused = exc
    assert refused is None or "required_role" not in (refused.extra or {}), refused.message


def test_reads_that_need_a_role_are_refused_by_their_selector(world):
    reviewer = MembershipFactory(project=world["project"], role=Role.REVIEWER).user
    manager = MembershipFactory(project=world["project"], role=Role.MANAGER).user
    projects.project_update(project=world["project"], actor=manager, version=world["project"].version, name="renamed")
    for read in (selectors.audit_list, selectors.user_list):
        with pytest.raises(ApplicationError) as refused:
            read(user=reviewer, project=world["project"])
        assert refused.value.status_code == 403
        assert read(user=manager, project=world["project"]).exists()  # the manager reads (members, their log rows)


def test_export_download_needs_a_manager(world):
    manager = MembershipFactory(project=world["project"], role=Role.MANAGER).user
    job = datasets.dataset_export_request(project=world["project"], actor=manager, enqueue=False)
    datasets.dataset_export(job_id=job.pk)
    job.refresh_from_db()
    assert datasets.export_file(job, actor=manager).is_file()
    reviewer = MembershipFactory(project=world["project"], role=Role.REVIEWER).user
    with pytest.raises(ApplicationError) as refused:
        datasets.export_file(job, actor=reviewer)
    assert refused.value.status_code == 403


def test_the_operator_context_passes_role_checks_only_inside_it(world):
    stranger = UserFactory()
    with operator():
        require_role(stranger, world["project"], Role.OWNER, "anything")
    with pytest.raises(ApplicationError):
        require_role(stranger, world["project"], Role.OWNER, "anything")


def test_the_loops_requests_without_a_person_are_refused_outside_the_operator_context(world):
    """The learning loop asks for calibration, training and pre-labeling with no actor, inside operator(); an
    absent actor is not a pass on its own (it skipped the check before the loop used the operator context)."""
    from labeling.services.calibration import project_calibration_request
    from labeling.services.prelabel import project_prelabel_request
    from labeling.services.training import model_train_request

    before = _state()
    for request in (project_calibration_request, project_prelabel_request, model_train_request):
        with pytest.raises(ApplicationError) as refused:
            request(project=world["project"], actor=None)
        assert refused.value.status_code == 403
    assert _state() == before
    with operator():
        assert project_prelabel_request(project=world["project"], actor=None).kind == JobKind.PRELABEL


def test_the_shell_imports_as_the_operator_for_a_user_who_is_not_a_member(tmp_path):
    """`importimages --user` names who the audit log records; the shell holds the authority."""
    project, recorded = ProjectFactory(), UserFactory(username="night-shift")
    (tmp_path / "a.png").write_bytes(png_bytes(gradient(seed=4)))
    call_command(
        "importimages",
        str(tmp_path),
        "--project",
        str(project.pk),
        "--user",
        "night-shift",
        "--no-progress",
        stdout=io.StringIO(),
    )
    image = Image.objects.get(project=project)
    assert AuditLog.objects.get(action="image.create", object_id=str(image.pk)).actor == recorded


def test_staff_delete_images_in_the_admin_without_a_project_role(client):
    image = ImageFactory()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:labeling_image_changelist"),
        {"action": "delete_selected", "_selected_action": [image.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Image.objects.filter(pk=image.pk).exists()
    assert AuditLog.objects.filter(action="image.delete", object_id=str(image.pk)).exists()
