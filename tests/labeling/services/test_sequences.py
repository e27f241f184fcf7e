"""Frame sequences: which uploads form one, carrying the previous frame's points (moved onto their peaks) as
suggestions that keep their track id when accepted, who may carry, and the export's track ids (COCO and MOT)."""

import io
import json

import numpy as np
import pytest
import tifffile

from labeling.choices import ImageStatus, MaskState, Role, SuggestionState
from labeling.exceptions import ApplicationError, ConflictError
from labeling.models import AuditLog, Image, Suggestion, Target
from labeling.services.images import images_upload
from labeling.services.sequences import image_carry
from labeling.services.suggestions import suggestion_accept, suggestion_reject, suggestions_accept_all
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, png_bytes
from tests.labeling.services.datasets.helpers import run_export

pytestmark = pytest.mark.django_db


def moving_frame(centres, size=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    frame = 8000 + rng.normal(0, 20, (size, size))
    for cx, cy in centres:
        frame += 3000 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.3**2))
    return np.clip(frame, 0, 65535).astype(np.uint16)


STARTS = np.array([[12.0, 14.0], [40.0, 20.0], [30.0, 48.0]])
STEP = np.array([1.5, 1.0])  # px per frame


@pytest.fixture
def team():
    project = ProjectFactory()
    roles = {role: MembershipFactory(project=project, role=role).user for role in Role.values}
    return project, roles


def _sequence(project, n=3, name="pass1"):
    return [
        ImageFactory(project=project, pixels=moving_frame(STARTS + k * STEP, seed=k), sequence=name, frame_index=k + 1)
        for k in range(n)
    ]


def _masked_sequence(project, track):
    """Two frames of `pass1`, each target with a confirmed 3 x 3 mask and the track id `track(frame, target)`."""
    frames = _sequence(project, n=2)
    for k, frame in enumerate(frames):
        for i, (x, y) in enumerate(STARTS + k * STEP):
            raster = np.zeros((64, 64), bool)
            raster[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = True
            target = TargetFactory(image=frame, x=x, y=y, track_id=track(k, i))
            MaskFactory(target=target, raster=raster, state=MaskState.CONFIRMED)
    return frames


def test_a_multi_page_tiff_and_a_named_upload_become_ordered_sequences(team):
    project, users = team
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for k in range(3):
            writer.write(moving_frame(STARTS + k * STEP, seed=k))
    created, errors = images_upload(project=project, files=[("pass.tif", buffer.getvalue())], actor=users[Role.MANAGER])
    assert errors == [] and [(i.sequence, i.frame_index) for i in created] == [("pass", 1), ("pass", 2), ("pass", 3)]

    files = [(f"f_{k}.png", png_bytes(moving_frame(STARTS, seed=10 + k))) for k in (10, 2, 1)]
    created, _ = images_upload(project=project, files=files, actor=users[Role.MANAGER], sequence="  run  7 ")
    assert [(i.original_name, i.sequence, i.frame_index) for i in created] == [
        ("f_1.png", "run 7", 1),
        ("f_2.png", "run 7", 2),
        ("f_10.png", "run 7", 3),
    ]
    lone, _ = images_upload(
        project=project, files=[("lone.png", png_bytes(moving_frame([])))], actor=users[Role.MANAGER]
    )
    assert (lone[0].sequence, lone[0].frame_index) == ("", None)
    with pytest.raises(ApplicationError, match="sequence must be 1 to 255"):
        images_upload(project=project, files=files, actor=users[Role.MANAGER], sequence=" ")


def test_carrying_moves_each_previous_point_onto_its_peak_and_gives_it_a_track(team):
    project, users = team
    first, second, _ = _sequence(project)
    sources = [TargetFactory(image=first, x=x, y=y) for x, y in STARTS]
    carried = image_carry(image=second, actor=users[Role.ANNOTATOR])
    assert len(carried) == 3 and all(s.source == "carried" and s.state == SuggestionState.PENDING for s in carried)
    got = np.array([[s.x, s.y] for s in carried])
    assert np.abs(got - (STARTS + STEP)).max() <= 0.6
    tracks = [t.track_id for t in Target.objects.filter(pk__in=[t.pk for t in sources]).order_by("pk")]
    assert tracks == [1, 2, 3] and [s.params["track_id"] for s in carried] == tracks
    assert all(s.params["sure"] for s in carried)
    assert AuditLog.objects.get(action="image.carry").data == {"from_image": first.pk, "carried": 3, "weak": 0}

    again = image_carry(image=second, actor=users[Role.ANNOTATOR])  # a rerun replaces, never duplicates
    assert len(again) == 3 and Suggestion.objects.filter(image=second).count() == 3


def test_accepted_carried_points_keep_their_track_and_a_rejected_one_does_not_come_back(team):
    project, users = team
    first, second, third = _sequence(project)
    for x, y in STARTS:
        TargetFactory(image=first, x=x, y=y)
    one, two, three = image_carry(image=second, actor=users[Role.ANNOTATOR])
    target = suggestion_accept(suggestion=one, actor=users[Role.ANNOTATOR])
    assert Target.objects.get(pk=target.pk).track_id == one.params["track_id"]
    suggestion_reject(suggestion=two, actor=users[Role.ANNOTATOR])
    created = suggestions_accept_all(image=second, actor=users[Role.ANNOTATOR])
    assert [t.track_id for t in Target.objects.filter(pk__in=[c.pk for c in created])] == [three.params["track_id"]]

    onward = image_carry(image=third, actor=users[Role.ANNOTATOR])  # from frame 2's two targets, same tracks
    assert sorted(s.params["track_id"] for s in onward) == sorted([one.params["track_id"], three.params["track_id"]])


def test_the_previous_targets_tightness_comes_along_as_the_masks_hint(team):
    project, users = team
    first, second, _ = _sequence(project)
    TargetFactory(image=first, x=12.0, y=14.0, tightness=0.12)
    TargetFactory(image=first, x=40.0, y=20.0)
    tight, plain = image_carry(image=second, actor=users[Role.ANNOTATOR])
    assert tight.params["tightness"] == 0.12 and tight.params["tightness_from"] == "previous_target"
    assert "tightness" not in plain.params  # no mask and no tightness: nothing to follow
    targets = [suggestion_accept(suggestion=s, actor=users[Role.ANNOTATOR]) for s in (tight, plain)]
    assert [Target.objects.get(pk=t.pk).tightness for t in targets] == [0.12, None]


def test_the_previous_mask_sets_how_tightly_the_carried_target_is_drawn(team):
    """A team that draws wide masks (here with the brush: the target carries no tightness) gets wide masks on the
    next frame too; a tight one, tight ones."""
    from labeling import ml_adapter

    project, users = team
    first, second, _ = _sequence(project)
    yy, xx = np.mgrid[0:64, 0:64]
    radii = (3.2, 1.0)  # a wide halo mask on the first target, a 1-px core plus cross on the second
    for (x, y), radius in zip(STARTS[:2], radii, strict=True):
        raster = (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
        MaskFactory(target=TargetFactory(image=first, x=x, y=y), raster=raster, state=MaskState.CONFIRMED)
    wide, tight = image_carry(image=second, actor=users[Role.ANNOTATOR])
    assert wide.params["tightness_from"] == tight.params["tightness_from"] == "previous_mask"
    assert wide.params["tightness"] < 0.35 < tight.params["tightness"]  # wider / tighter than the project's alpha
    pixels = moving_frame(STARTS + STEP, seed=1)
    points = np.array([[wide.x, wide.y], [tight.x, tight.y]])
    spec = ml_adapter.GeneratorSpec()
    plain = ml_adapter.generate_masks(pixels, points, spec).masks
    hinted = ml_adapter.generate_masks(pixels, points, spec, [wide.params["tightness"], tight.params["tightness"]])
    for k, radius in enumerate(radii):  # the hinted mask is nearer the team's own size on this frame
        want = np.pi * radius**2
        assert abs(hinted.masks[k].sum() - want) < abs(plain[k].sum() - want)
    target = suggestion_accept(suggestion=wide, actor=users[Role.ANNOTATOR])
    assert Target.objects.get(pk=target.pk).tightness == wide.params["tightness"]


def test_a_point_already_clicked_is_not_offered_again_and_the_detector_leaves_carried_ones(team):
    from labeling.services.suggestions import image_suggest

    project, users = team
    first, second, _ = _sequence(project)
    for x, y in STARTS:
        TargetFactory(image=first, x=x, y=y)
    TargetFactory(image=second, x=float(STARTS[0][0] + STEP[0]), y=float(STARTS[0][1] + STEP[1]))
    carried = image_carry(image=second, actor=users[Role.ANNOTATOR])
    assert len(carried) == 2
    image_suggest(image=second)
    assert Suggestion.objects.filter(image=second, source="carried", state=SuggestionState.PENDING).count() == 2
    for s in Suggestion.objects.filter(image=second, source="detector"):  # nothing twice at one place
        assert all((s.x - c.x) ** 2 + (s.y - c.y) ** 2 > 9 for c in carried)


def test_who_may_carry_and_where(team):
    project, users = team
    first, second, _ = _sequence(project)
    TargetFactory(image=first, x=12, y=14)
    with pytest.raises(ApplicationError) as caught:
        image_carry(image=second, actor=users[Role.VIEWER])
    assert caught.value.status_code == 403 and not Suggestion.objects.exists()
    assert image_carry(image=first, actor=users[Role.ANNOTATOR]) == []  # the first frame: nothing before it
    lone = ImageFactory(project=project)
    with pytest.raises(ApplicationError, match="not a frame of a sequence"):
        image_carry(image=lone, actor=users[Role.ANNOTATOR])
    Image.objects.filter(pk=second.pk).update(status=ImageStatus.CONFIRMED)
    second.refresh_from_db()
    with pytest.raises(ConflictError):
        image_carry(image=second, actor=users[Role.ANNOTATOR])
    assert not Suggestion.objects.exists()


def test_the_export_gives_every_target_of_a_sequence_a_track_in_coco_and_mot(team):
    project, users = team
    frames = _masked_sequence(project, track=lambda k, i: i + 1 if k == 0 or i < 2 else None)
    lone = ImageFactory(project=project)
    lone_raster = np.zeros((16, 24), bool)  # the factory's default 16 x 24 frame
    lone_raster[2:4, 2:4] = True
    MaskFactory(target=TargetFactory(image=lone, x=3, y=3), raster=lone_raster)
    _, archive = run_export(project, users[Role.MANAGER])
    coco = json.loads(archive.read("annotations/instances.json"))
    by_image = {i["id"]: i for i in coco["images"]}
    assert (by_image[frames[1].pk]["sequence"], by_image[frames[1].pk]["frame_index"]) == ("pass1", 2)
    assert "sequence" not in by_image[lone.pk]
    tracks = {(a["image_id"], a["keypoints"][0]): a.get("track_id") for a in coco["annotations"]}
    assert [tracks[(frames[0].pk, x)] for x in STARTS[:, 0]] == [1, 2, 3]
    assert [tracks[(frames[1].pk, x)] for x in (STARTS + STEP)[:, 0]] == [1, 2, 4]  # untracked: after the highest
    assert tracks[(lone.pk, 3.0)] is None
    rows = [line.split(",") for line in archive.read("tracks/pass1.txt").decode().split()]
    assert [(r[0], r[1]) for r in rows] == [("1", "1"), ("1", "2"), ("1", "3"), ("2", "1"), ("2", "2"), ("2", "4")]
    assert rows[0][2:] == ["12", "14", "3", "3", "1", "-1", "-1", "-1"]  # box of rows 13..15 / cols 11..13, 1-based
    manifest = json.loads(archive.read("manifest.json"))
    assert "tracks/<sequence>.txt" in manifest["layout"] and manifest["counts"]["sequences"] == 1


def test_an_exported_sequence_comes_back_with_its_frames_and_tracks(team):
    from tests.labeling.services.datasets.helpers import run_import

    project, users = team
    _masked_sequence(project, track=lambda k, i: i + 1)
    job, archive = run_export(project, users[Role.MANAGER])
    other = ProjectFactory()
    MembershipFactory(project=other, user=users[Role.MANAGER], role=Role.MANAGER)
    imported = run_import(other, users[Role.MANAGER], open(archive.filename, "rb").read())
    assert imported.status == "succeeded", imported.message
    got = Image.objects.filter(project=other).order_by("frame_index")
    assert [(i.sequence, i.frame_index) for i in got] == [("pass1", 1), ("pass1", 2)]
    for image in got:
        assert list(image.targets.order_by("pk").values_list("track_id", flat=True)) == [1, 2, 3]


def test_a_coco_vid_file_makes_a_sequence_and_malformed_keys_are_ignored():
    from labeling.services.datasets.layout import _sequence_of

    assert _sequence_of({"video_id": 7, "frame_id": 0}) == ("7", 0)
    assert _sequence_of({"sequence": "  night  run ", "frame_index": 3}) == ("night run", 3)
    for bad in (
        {"sequence": "", "frame_index": 1},
        {"sequence": "a", "frame_index": -1},
        {"video_id": True, "frame_id": 1},
    ):
        assert _sequence_of(bad) is None
