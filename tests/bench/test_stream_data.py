"""Frames for the streaming benches: binary and instance masks, splitting by points, errors, a fixed order."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from bench._stream_data import frame_order, load_frames, read_instances


def _write(root: Path, frames: dict, points: dict | None = None, image_dtype=np.uint8) -> tuple[Path, Path, Path]:
    """frames: id -> mask array (written as PNG in its own dtype); images are noise of `image_dtype`."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for image_id, mask in frames.items():
        image = rng.integers(0, 200, mask.shape).astype(image_dtype)
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{image_id}.png"), mask)
    pts_path = None
    if points is not None:
        pts_path = root / "points.json"
        pts_path.write_text(json.dumps(points))
    return root / "images", root / "masks", pts_path  # type: ignore[return-value]


def _two_blobs(value: int, dtype=np.uint8) -> np.ndarray:
    m = np.zeros((20, 30), dtype)
    m[2:5, 3:6] = value  # centroid (x 4, y 3)
    m[10:14, 20:26] = value  # centroid (x 22.5, y 11.5)
    return m


def test_a_binary_mask_gives_its_8_connected_components_and_floored_centroids(tmp_path):
    frames = load_frames(*_write(tmp_path, {"b": _two_blobs(255), "a": np.zeros((20, 30), np.uint8)}))
    assert [f.id for f in frames] == ["a", "b"]  # sorted by id
    assert frames[0].instances == [] and frames[0].points.shape == (0, 2)
    b = frames[1]
    assert b.image.shape == (20, 30) and b.image.dtype == np.uint8
    assert [int(m.sum()) for m in b.instances] == [9, 24]
    assert b.points.tolist() == [[4.0, 3.0], [22.0, 11.0]]


def test_a_diagonal_neighbour_joins_the_component(tmp_path):
    m = np.zeros((10, 10), np.uint8)
    m[2, 2] = m[3, 3] = 255
    (frame,) = load_frames(*_write(tmp_path, {"d": m}))
    assert len(frame.instances) == 1 and frame.instances[0].sum() == 2


def test_uint16_and_small_uint8_values_are_instance_labels(tmp_path):
    labels16 = np.zeros((20, 30), np.uint16)
    labels16[2:5, 3:6], labels16[2:5, 6:9] = 2, 1  # touching instances stay apart
    labels8 = labels16.astype(np.uint8)
    labels8[15:18, 15:18] = 3
    frames = load_frames(*_write(tmp_path, {"u16": labels16, "u8": labels8}))
    by_id = {f.id: f for f in frames}
    assert len(by_id["u16"].instances) == 2 and by_id["u16"].points.tolist() == [[7.0, 3.0], [4.0, 3.0]]
    assert [int(m.sum()) for m in by_id["u8"].instances] == [9, 9, 9]


def test_points_split_a_component_by_nearest_point_and_keep_their_order(tmp_path):
    m = np.zeros((10, 20), np.uint8)
    m[4:6, 2:18] = 255  # one bar, two clicks
    pts = [[15.0, 4.0], [3.0, 5.0]]
    (frame,) = load_frames(*_write(tmp_path, {"bar": m}, {"bar": pts}))
    right, left = frame.instances
    assert frame.points.tolist() == pts
    assert right[4:6, 10:18].all() and not right[:, :9].any()
    assert left[4:6, 2:9].all() and not left[:, 10:].any()
    assert not (right & left).any() and ((right | left) == (m > 0)).all()


def test_a_0_1_mask_with_one_point_is_one_label(tmp_path):
    m = _two_blobs(1)
    (frame,) = load_frames(*_write(tmp_path / "one", {"x": m}, {"x": [[4, 3]]}))
    assert len(frame.instances) == 1 and frame.instances[0].sum() == 33  # one target in two pieces
    (frame,) = load_frames(*_write(tmp_path / "none", {"x": m}))
    assert len(frame.instances) == 2  # without points: binary, one target per component


def test_a_16_bit_image_keeps_its_dtype(tmp_path):
    (frame,) = load_frames(*_write(tmp_path, {"x": _two_blobs(255)}, image_dtype=np.uint16))
    assert frame.image.dtype == np.uint16


def test_a_floored_centroid_off_its_instance_moves_to_the_nearest_pixel(tmp_path):
    m = np.zeros((12, 12), np.uint8)
    m[2:9, 2], m[2, 2:9], m[8, 2:9] = 255, 255, 255  # a "C": centroid in the gap
    (frame,) = load_frames(*_write(tmp_path, {"c": m}))
    x, y = frame.points[0].astype(int)
    assert frame.instances[0][y, x]


@pytest.mark.parametrize(
    ("mask", "points", "message"),
    [
        (_two_blobs(255), [[4, 3], [0, 19]], "point 1 .* is in no target"),
        (_two_blobs(255), [[4, 3]], "without a point"),
        (_two_blobs(255), [[4, 3], [4, 3], [22, 11]], "gets no pixel"),
        (_two_blobs(2), None, r"labels 1\.\.2 expected"),
        (_two_blobs(1, np.uint16), [[4, 3], [22, 11]], "1 instances but 2 points"),
        (_two_blobs(1, np.uint16) + (_two_blobs(1, np.uint16) & (np.arange(30) > 10)), [[22, 11], [4, 3]],
         "point 0 .* not inside instance 1"),
        (_two_blobs(255) | (np.arange(30) == 0).astype(np.uint8) * 3, None, "mixes 255"),
        (_two_blobs(255), [[4, 3], [40, 11]], "outside"),
    ],
)  # fmt: skip
def test_a_bad_mask_or_point_is_a_value_error_naming_the_mask(tmp_path, mask, points, message):
    with pytest.raises(ValueError, match=message) as err:
        load_frames(*_write(tmp_path, {"bad": mask}, None if points is None else {"bad": points}))
    assert str(tmp_path / "masks" / "bad.png") in str(err.value)


def test_file_level_errors_name_the_file(tmp_path):
    images, masks, _ = _write(tmp_path, {"a": _two_blobs(255)})
    cv2.imwrite(str(masks / "a.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match=r"masks/a\.png has shape"):
        load_frames(images, masks)
    (masks / "a.png").unlink()
    with pytest.raises(ValueError, match=r"no mask for image .*images/a\.png"):
        load_frames(images, masks)
    tifffile.imwrite(masks / "a.tif", np.zeros((20, 30), np.float32))
    with pytest.raises(ValueError, match=r"masks/a\.tif has dtype float32"):
        load_frames(images, masks)


def test_points_file_errors_name_the_file(tmp_path):
    images, masks, _ = _write(tmp_path, {"a": _two_blobs(255)})
    bad = tmp_path / "points.json"
    for text, message in [
        ("{not json", "cannot read points file"),
        ("[]", "must hold an object"),
        ('{"b": [[1, 2]]}', r"no points for \['a'\], points without an image \['b'\]"),
        ('{"a": [[1, 2, 3]]}', "not \\[\\[x, y\\]"),
    ]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=message) as err:
            load_frames(images, masks, bad)
        assert str(bad) in str(err.value)


def test_read_instances_checks_the_image_size(tmp_path):
    _, masks, _ = _write(tmp_path, {"a": _two_blobs(255)})
    with pytest.raises(ValueError, match="its image has"):
        read_instances(masks / "a.png", (21, 30))


def test_the_hash_order_is_stable_and_salted():
    ids = [f"frame_{i:03d}" for i in range(50)]
    order = frame_order(ids)
    expected = sorted(ids, key=lambda i: hashlib.sha256(f"stream:{i}".encode()).hexdigest())
    assert order == expected and order != sorted(ids)
    assert frame_order(list(reversed(ids))) == order  # the input order does not matter
    assert frame_order(["a", "b", "c", "d", "e"]) == ["a", "e", "d", "c", "b"]  # pinned: same on every machine
    assert frame_order(ids, salt="other") != order
    assert frame_order(list(reversed(ids)), order="name") == sorted(ids)
    with pytest.raises(ValueError, match="unknown order"):
        frame_order(ids, order="random")
