"""Management commands: createproject, importimages (per-file errors, progress), seeddemo."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from labeling.choices import Role
from labeling.models import Image, Membership, Project
from tests.factories import ProjectFactory, UserFactory, gradient, png_bytes

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[2] / "labeling" / "demo" / "sirst" / "images"


def test_createproject_makes_the_owner():
    user = UserFactory(username="alice")
    out = io.StringIO()
    call_command("createproject", "Harbour", "--owner", "alice", stdout=out)
    project = Project.objects.get(name="Harbour")
    assert Membership.objects.get(project=project, user=user).role == Role.OWNER
    assert f"Created project {project.pk}" in out.getvalue()


def test_createproject_unknown_owner_is_a_clear_error():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("createproject", "X", "--owner", "nobody")


def test_importimages_lands_the_good_files_and_names_the_bad(tmp_path):
    project = ProjectFactory()
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(png_bytes(gradient(seed=1)))
    (tmp_path / "sub" / "b.png").write_bytes(png_bytes(gradient(seed=2)))
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    (tmp_path / "notes.txt").write_text("ignored")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "importimages",
        str(tmp_path),
        "--project",
        str(project.pk),
        "--split",
        "val",
        "--no-progress",
        stdout=out,
        stderr=err,
    )
    assert sorted(Image.objects.filter(project=project).values_list("original_name", flat=True)) == ["a.png", "b.png"]
    assert set(Image.objects.values_list("split", flat=True)) == {"val"}
    assert "broken.png" in err.getvalue()
    assert "Imported 2 of 3 images" in out.getvalue()


def test_importimages_bad_arguments(tmp_path):
    project = ProjectFactory()
    with pytest.raises(CommandError, match="not a directory"):
        call_command("importimages", str(tmp_path / "missing"), "--project", str(project.pk))
    with pytest.raises(CommandError, match="No project with id"):
        call_command("importimages", str(tmp_path), "--project", "999999")
    with pytest.raises(CommandError, match="no image files"):
        call_command("importimages", str(tmp_path), "--project", str(project.pk))


def test_seeddemo_is_idempotent():
    out = io.StringIO()
    call_command("seeddemo", stdout=out)
    call_command("seeddemo", stdout=out)
    project = Project.objects.get(name="Demo: SIRST frames")
    assert project.images.count() == len(list(DEMO.glob("*.png"))) == 6
    assert Membership.objects.get(project=project).user.username == "demo"
    assert "demo / demo-password" in out.getvalue()
