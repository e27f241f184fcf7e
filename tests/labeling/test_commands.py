"""Management commands: createproject, importimages (per-file errors, progress), seeddemo, qareport."""

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


def test_qareport_prints_each_annotators_figures_as_a_table_csv_or_json(tmp_path):
    import csv as csvlib
    import json

    import numpy as np

    from labeling.choices import Role
    from labeling.services.images import image_claim, image_confirm, image_submit
    from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory

    project = ProjectFactory()
    MembershipFactory(project=project, user=project.created_by, role=Role.OWNER)
    anna = MembershipFactory(project=project, role=Role.ANNOTATOR).user
    rita = MembershipFactory(project=project, role=Role.REVIEWER).user
    image = ImageFactory(project=project)
    image_claim(project=project, actor=anna)
    raster = np.zeros((16, 24), bool)
    raster[3:6, 3:6] = True
    MaskFactory(target=TargetFactory(image=image, x=4, y=4, created_by=anna), raster=raster)
    image_confirm(image=image_submit(image=image, actor=anna), actor=rita)

    out = io.StringIO()
    call_command("qareport", "--project", str(project.pk), stdout=out)
    table = out.getvalue().splitlines()
    assert table[0].split()[:4] == ["username", "frames", "iou", "pd"]
    assert table[1].split()[:4] == [anna.username, "1", "100.0", "100.0"]
    assert "labelled twice: 0 frames" in table[-1]
    path = tmp_path / "qa.csv"
    call_command("qareport", "--project", str(project.pk), "--format", "csv", "--out", str(path), stdout=io.StringIO())
    (row,) = list(csvlib.DictReader(path.open()))
    assert row["username"] == anna.username and float(row["iou"]) == 100.0 and row["gold_iou"] == ""
    out = io.StringIO()
    call_command("qareport", "--project", str(project.pk), "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["annotators"][0]["frames"] == 1
    with pytest.raises(CommandError, match="not a member"):
        call_command("qareport", "--project", str(project.pk), "--user", UserFactory().username)
