"""Property tests (hypothesis) of every parser hostile input reaches: points, COCO RLE and polygons, mask PNGs,
upload headers, dataset JSON (point files and COCO) and list query parameters.

Properties: only the app's own validation errors (ValueError/LabelError in the codecs, a 4xx through the API),
never another exception or a 500; memory bounded by the image, not by what the input claims; nothing stored when
a request is refused; and exact round trips where the input is valid.
"""

import base64
import io
import json
import math
import os
import struct
import tracemalloc
import zipfile
import zlib
from urllib.parse import urlencode

import numpy as np
import pytest
import tifffile
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image as PILImage
from pycocotools import mask as coco_mask

from labeling import storage
from labeling.choices import JobStatus
from labeling.exceptions import ApplicationError
from labeling.models import Image, Job, Mask, Target
from labeling.services import target_add
from labeling.services.datasets import formats
from labeling.services.datasets.imports import dataset_import, dataset_import_request
from tests.factories import gradient, png_bytes
from tests.system.fuzz.conftest import row_counts

H, W = 16, 24  # the world's image (tests/system/fuzz/conftest.py)
# FUZZ_SCALE multiplies every bound and FUZZ_RANDOM=1 draws new examples (a long local hunt); CI runs the fixed,
# derandomized defaults (the whole file < 40 s).
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
FIXED = os.environ.get("FUZZ_RANDOM") != "1"
PURE = settings(max_examples=100 * SCALE, deadline=None, derandomize=FIXED, database=None)
DB = settings(
    max_examples=30 * SCALE,
    deadline=None,
    derandomize=FIXED,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
MB = 1024 * 1024
User = get_user_model()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


def rolled_back(func, *args, **kwargs):
    """Run one example in a savepoint that is rolled back: every example starts from the same rows."""
    with transaction.atomic():
        try:
            return func(*args, **kwargs)
        finally:
            transaction.set_rollback(True)


def peak_bytes(func, *args, **kwargs) -> tuple[object, int]:
    """(result or raised exception, peak traced allocation) of one call; numpy reports to tracemalloc."""
    tracemalloc.start()
    try:
        try:
            result = func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned for the caller's assertion
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def counts_string(runs: list[int]) -> str:
    """COCO compressed RLE of `runs` (the LEB128-like encoding of pycocotools' rleToString), any run length."""
    out = []
    for i, run in enumerate(runs):
        value = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            chunk = value & 0x1F
            value >>= 5
            more = not ((value == 0 and not chunk & 0x10) or (value == -1 and chunk & 0x10))
            out.append(chr(chunk + (0x20 if more else 0) + 48))
    return "".join(out)


# --- COCO RLE -----------------------------------------------------------------------------------
rasters = st.tuples(st.integers(1, 24), st.integers(1, 24)).flatmap(
    lambda shape: arrays(np.bool_, shape, elements=st.booleans())
)


@PURE
@given(raster=rasters)
def test_rle_round_trip(raster):
    counts, area, bbox = storage.mask_encode(raster)
    decoded = storage.mask_decode(counts, *raster.shape)
    assert decoded.shape == raster.shape and decoded.dtype == bool
    assert np.array_equal(decoded, raster)
    assert area == int(raster.sum())
    reference = coco_mask.decode({"size": list(raster.shape), "counts": counts.encode()}).astype(bool)
    assert np.array_equal(reference, raster)  # our pure-Python parser agrees with pycocotools
    assert counts_string(storage.rle_counts_parse(counts)) == counts


def _decode_or_value_error(counts: str, height: int, width: int) -> None:
    try:
        decoded = storage.mask_decode(counts, height, width)
    except ValueError:
        return
    assert decoded.shape == (height, width) and decoded.dtype == bool


@PURE
@given(counts=st.text(max_size=60), height=st.integers(0, 40), width=st.integers(0, 40))
@example(counts="o" * 5000 + "0", height=H, width=W)  # one number 25,000 bits long
@example(counts="1" * 5000, height=H, width=W)  # thousands of runs for a 384-pixel image
def test_rle_garbage_counts_are_refused_cleanly(counts, height, width):
    _decode_or_value_error(counts, height, width)


@PURE
@given(raster=rasters, data=st.data())
def test_rle_truncated_or_mutated(raster, data):
    counts, _, _ = storage.mask_encode(raster)
    cut = data.draw(st.integers(0, max(len(counts) - 1, 0)))
    _decode_or_value_error(counts[:cut], *raster.shape)
    if counts:
        at = data.draw(st.integers(0, len(counts) - 1))
        char = data.draw(st.characters(min_codepoint=0, max_codepoint=0x2FF))
        _decode_or_value_error(counts[:at] + char + counts[at + 1 :], *raster.shape)
    other = data.draw(st.tuples(st.integers(1, 30), st.integers(1, 30)))
    _decode_or_value_error(counts, *other)  # sizes mismatched


@pytest.mark.parametrize("height,width", [(31_623, 31_623), (100_000, 10_000), (2**31, 3), (1, 2**40)])
def test_rle_huge_claim_is_refused_before_allocation(height, width):
    counts = counts_string([0, height * width])  # a valid-looking "everything is mask" of the claimed size
    result, peak = peak_bytes(storage.mask_decode, counts, height, width)
    assert isinstance(result, ValueError), result
    assert peak < 1 * MB


def test_rle_long_counts_cost_bounded_time():
    """A 4 MB counts string for a 384-pixel image is refused after a few hundred characters, not parsed whole."""
    counts = "1" * (4 * MB)
    result, peak = peak_bytes(storage.mask_decode, counts, H, W)
    assert isinstance(result, ValueError)
    assert peak < 1 * MB  # no list of millions of runs was built


# --- COCO segmentations (dataset import) --------------------------------------------------------
coordinates = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**12), 10**12)
polygons = st.lists(st.lists(coordinates, min_size=6, max_size=12), min_size=1, max_size=3)
rle_objects = st.fixed_dictionaries(
    {
        "size": st.just([H, W]) | json_values,
        "counts": st.lists(st.integers(-5, 400) | st.integers(0, 2**64) | json_scalars, max_size=8)
        | st.text(max_size=30)
        | json_values,
    }
)
segmentations = rle_objects | polygons | json_values


@PURE
@given(segmentation=segmentations)
@example(segmentation={"size": 5, "counts": "PPYo0"})  # a size that is not a list
@example(segmentation={"size": [H, W], "counts": [0, 10**20]})
def test_coco_segmentation_garbage(segmentation):
    result, peak = peak_bytes(formats.coco_segmentation_decode, segmentation, H, W)
    if isinstance(result, Exception):
        assert isinstance(result, formats.LabelError), repr(result)
    else:
        assert result.shape == (H, W) and result.dtype == bool
    assert peak < 16 * MB


@PURE
@given(raster=rasters)
def test_coco_uncompressed_rle_round_trip(raster):
    """The import's list-of-runs RLE reads back exactly what the compressed string of the same mask says."""
    runs = storage.rle_counts_parse(storage.mask_encode(raster)[0])
    decoded = formats.coco_segmentation_decode({"size": list(raster.shape), "counts": runs}, *raster.shape)
    assert np.array_equal(decoded, raster)


@pytest.mark.parametrize(
    "polygon",
    [
        [0.0, 0.0, 2e8, 0.0, 2e8, 2e8],  # pycocotools would allocate gigabytes for its edge walk (or segfault)
        [0.0, 0.0, 1e300, 0.0, 1e300, 1e300],
        [0, 0, 10**400, 0, 5, 5],  # math.isfinite() of this int raises OverflowError
        [0.0, 0.0, 20.0, 0.0, 20.0, 15.0] * 20000,  # a frame-sized triangle drawn 20,000 times
    ],
)
def test_coco_polygon_claims_are_refused(polygon):
    with pytest.raises(formats.LabelError):
        formats.coco_segmentation_decode([polygon], H, W)


def test_coco_polygon_inside_the_frame_still_decodes():
    decoded = formats.coco_segmentation_decode([[2.0, 2.0, 10.0, 2.0, 10.0, 8.0, 2.0, 8.0]], H, W)
    assert decoded[3:8, 3:10].all() and not decoded[12:, :].any()


# --- Points (service and API) -------------------------------------------------------------------
point_values = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**40), 10**40)
    | st.sampled_from(["NaN", "nan", "inf", "-Infinity", "1e400", "-0", "0x10", " 3 ", "", "5"])
    | st.text(max_size=10)
    | st.none()
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
)


def _stored_targets_are_sane() -> None:
    for image in Image.objects.all():
        for x, y in Target.objects.filter(image=image).values_list("x", "y"):
            assert math.isfinite(x) and math.isfinite(y)
            assert -0.5 <= x < image.width - 0.5 and -0.5 <= y < image.height - 0.5


@DB
@given(x=point_values, y=point_values, tightness=point_values)
@example(x=float("nan"), y=1.0, tightness=None)
@example(x=1e308, y=-1e308, tightness=None)
@example(x=W - 0.5, y=0.0, tightness=None)  # the right edge is outside (pixel centres are integers)
def test_point_service_only_validation_errors(world, x, y, tightness):
    image = Image.objects.get(pk=world.image_id)

    def add():
        before = row_counts()
        try:
            target = target_add(image=image, x=x, y=y, actor=User.objects.get(pk=world.owner_id), tightness=tightness)
        except ApplicationError as exc:
            assert exc.status_code == 400
            assert row_counts() == before
            return
        assert -0.5 <= target.x < W - 0.5 and -0.5 <= target.y < H - 0.5
        _stored_targets_are_sane()

    rolled_back(add)


def _json_or_none(value):
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):
        return None


@DB
@given(x=point_values, y=point_values, tightness=point_values, raw=st.booleans())
def test_point_api_never_500(world, owner_client, x, y, tightness, raw):
    client = owner_client
    url = f"/api/v1/images/{world.image_id}/targets/"
    body = {"x": x, "y": y, "tightness": tightness}
    # NaN and infinities cannot be JSON: send them as the literal tokens a sloppy client would write.
    text = _json_or_none(body) or json.dumps(body, allow_nan=True)
    if raw:
        text = text[: len(text) // 2]  # a truncated body

    def post():
        before = row_counts()
        response = client.post(url, data=text, content_type="application/json")
        assert response.status_code in (201, 400), response.content
        if response.status_code == 400:
            assert row_counts() == before
            assert set(response.json()) == {"message", "extra"}
        _stored_targets_are_sane()

    rolled_back(post)


@DB
@given(points=st.lists(st.fixed_dictionaries({"x": point_values, "y": point_values}) | json_values, max_size=4))
def test_targets_replace_api_never_500(world, owner_client, points):
    client = owner_client
    image = Image.objects.get(pk=world.image_id)
    body = json.dumps({"version": image.version, "points": points}, allow_nan=True)

    def put():
        before = row_counts()
        response = client.put(f"/api/v1/images/{world.image_id}/targets/", data=body, content_type="application/json")
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert row_counts() == before
        _stored_targets_are_sane()

    rolled_back(put)


# --- Mask PNGs ----------------------------------------------------------------------------------
def _png(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    buffer = io.BytesIO()
    image = PILImage.fromarray(array) if mode is None else PILImage.fromarray(array).convert(mode)
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _variants(raster: np.ndarray) -> dict[str, bytes]:
    """The same mask written the ways tools write masks: 8-bit, 16-bit, 1-bit, palette, grey+alpha, RGBA."""
    grey = np.where(raster, 255, 0).astype(np.uint8)
    palette = PILImage.fromarray(raster.astype(np.uint8), mode="L").convert("P")
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    rgba = np.dstack([grey, grey, grey, grey])
    return {
        "L": storage.mask_png_encode(raster),
        "I;16": _png(np.where(raster, 65535, 0).astype(np.uint16)),
        "1": _png(grey, "1"),
        "P": buffer.getvalue(),
        "LA": _png(np.dstack([grey, grey])),
        "RGBA": _png(rgba),
    }


@PURE
@given(raster=rasters)
def test_mask_png_round_trip_in_every_mode(raster):
    for mode, data in _variants(raster).items():
        decoded = storage.mask_png_decode(data, *raster.shape)
        assert decoded.dtype == bool and np.array_equal(decoded, raster), mode
        assert np.array_equal(formats.binary_decode(data, *raster.shape), raster), mode
    # An app mask may also be drawn in the alpha channel over any colour (the labeler's brush layer).
    alpha_only = _png(np.dstack([np.full(raster.shape, 200, np.uint8), np.where(raster, 255, 0).astype(np.uint8)]))
    assert np.array_equal(storage.mask_png_decode(alpha_only, *raster.shape), raster)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_header(width: int, height: int, bit_depth: int = 8, color_type: int = 0, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR says anything (valid CRCs) followed by a tiny IDAT: a decompression-bomb claim."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat or zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _png_garbage(data):
    """Random bytes, a PNG with a random header, or a valid mask PNG cut short or with bytes flipped."""
    kind = data.draw(st.sampled_from(["bytes", "header", "cut", "flip"]))
    if kind == "bytes":
        return data.draw(st.binary(max_size=200) | st.binary(max_size=100).map(lambda b: b"\x89PNG\r\n\x1a\n" + b))
    if kind == "header":
        return png_with_header(
            data.draw(st.integers(0, 2**32 - 1)),
            data.draw(st.integers(0, 2**32 - 1)),
            data.draw(st.sampled_from([1, 2, 4, 8, 16, 3, 0, 255])),
            data.draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7])),
            data.draw(st.binary(max_size=40)),
        )
    raster = data.draw(arrays(np.bool_, (H, W), elements=st.booleans()))
    valid = data.draw(st.sampled_from(sorted(_variants(raster).items())))[1]
    if kind == "cut":
        return valid[: data.draw(st.integers(0, len(valid) - 1))]
    at = data.draw(st.integers(8, len(valid) - 1))
    return valid[:at] + bytes([valid[at] ^ data.draw(st.integers(1, 255))]) + valid[at + 1 :]


@PURE
@given(data=st.data())
def test_mask_png_garbage_only_value_errors(data):
    blob = _png_garbage(data)
    for decode in (storage.mask_png_decode, formats.binary_decode, formats.instances_decode, formats.points_from_png):
        result, peak = peak_bytes(decode, blob, H, W)
        if isinstance(result, Exception):
            assert isinstance(result, ValueError), f"{decode.__name__}: {result!r}"
        assert peak < 8 * MB, decode.__name__


@PURE
@given(data=st.data())
def test_upload_decoder_garbage_only_invalid_image(data):
    blob = _png_garbage(data)
    result, peak = peak_bytes(storage.decode_image, blob)
    if isinstance(result, Exception):
        assert isinstance(result, storage.InvalidImage), repr(result)
        assert result.status_code in (400, 413)
    assert peak < 8 * MB


def _encoded(fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    if fmt == "TIFF16":
        tifffile.imwrite(buffer, gradient(H, W, seed=5, dtype=np.uint16), **save)
    else:
        PILImage.fromarray(gradient(H, W, seed=5)).save(buffer, format=fmt, **save)
    return buffer.getvalue()


ORIGINALS = {
    "PNG": _encoded("PNG"),
    "TIFF8": _encoded("TIFF"),
    "TIFF16": _encoded("TIFF16"),
    "TIFF16-zlib": _encoded("TIFF16", compression="zlib"),
    "JPEG": _encoded("JPEG"),
    "BMP": _encoded("BMP"),
}


def _tiff_damaged_tag() -> bytes:
    blob = bytearray(ORIGINALS["TIFF16"])
    blob[26] = 0  # found by this test with FUZZ_RANDOM=1: tifffile raised TypeError (an upload answered 500)
    return bytes(blob)


@pytest.mark.parametrize("blob", [_tiff_damaged_tag(), _tiff_damaged_tag()[:178]])
def test_tiff_with_a_damaged_tag_is_a_400(world, owner_client, blob):
    result = peak_bytes(storage.decode_image, blob)[0]
    assert isinstance(result, storage.InvalidImage) and result.status_code == 400, repr(result)
    before = row_counts()
    upload = SimpleUploadedFile("frame.tif", blob, content_type="image/tiff")
    url = f"/api/v1/projects/{world.project_id}/images/"
    response = owner_client.post(url, {"files": [upload]}, format="multipart")
    assert response.status_code == 400, response.content
    assert row_counts() == before


@PURE
@given(data=st.data())
def test_upload_decoder_mutated_originals_only_invalid_image(data):
    """Every upload format, cut short or with bytes flipped (headers included): decoded exactly or InvalidImage."""
    name = data.draw(st.sampled_from(sorted(ORIGINALS)))
    blob = bytearray(ORIGINALS[name])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    blob = bytes(blob[: data.draw(st.integers(1, len(blob)))])
    result, peak = peak_bytes(storage.decode_image, blob)
    if isinstance(result, Exception):
        assert isinstance(result, storage.InvalidImage), f"{name}: {result!r}"
    else:
        assert result.pixels.shape == (result.height, result.width)
    assert peak < 64 * MB, name


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (2**31 - 1, 2**31 - 1), (16_384, 16_384), (1, 2**30)])
def test_huge_declared_png_refused_from_the_header(world, owner_client, width, height):
    """An upload claiming billions of pixels is refused (413) before any pixel is allocated; nothing is stored."""
    blob = png_with_header(width, height)
    result, peak = peak_bytes(storage.decode_image, blob)
    assert isinstance(result, storage.InvalidImage) and result.status_code == 413
    assert peak < 1 * MB
    for decode in (storage.mask_png_decode, formats.binary_decode):
        result, peak = peak_bytes(decode, blob, H, W)
        assert isinstance(result, ValueError) and peak < 1 * MB
    client = owner_client
    before = row_counts()
    upload = SimpleUploadedFile("bomb.png", blob, content_type="image/png")
    response = client.post(f"/api/v1/projects/{world.project_id}/images/", {"files": [upload]}, format="multipart")
    assert response.status_code == 413, response.content
    assert row_counts() == before


@DB
@given(
    rle=st.fixed_dictionaries({"size": st.just([H, W]) | json_values, "counts": st.text(max_size=40) | json_values})
    | json_values,
    png=st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()) | json_values,
    which=st.sampled_from(["rle", "png", "both"]),
)
@example(rle={"size": [100_000, 10_000], "counts": counts_string([0, 10**9])}, png=None, which="rle")
def test_mask_put_api_never_500(world, owner_client, rle, png, which):
    client = owner_client
    mask = Mask.objects.get(target_id=world.target_id)
    body = {"version": mask.version}
    if which in ("rle", "both"):
        body["rle"] = rle
    if which in ("png", "both"):
        body["png"] = png

    def put():
        before = row_counts()
        response = client.put(
            f"/api/v1/targets/{world.target_id}/mask/",
            data=json.dumps(body, allow_nan=True),
            content_type="application/json",
        )
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert row_counts() == before
        for stored in Mask.objects.filter(image_id=world.image_id):
            assert storage.mask_decode(stored.rle, H, W).sum() == stored.area

    rolled_back(put)


@DB
@given(raster=arrays(np.bool_, (H, W), elements=st.booleans()), as_png=st.booleans())
def test_mask_put_api_round_trip(world, owner_client, raster, as_png):
    client = owner_client
    mask = Mask.objects.get(target_id=world.target_id)
    if as_png:
        body = {"version": mask.version, "png": base64.b64encode(storage.mask_png_encode(raster)).decode()}
    else:
        body = {"version": mask.version, "rle": {"size": [H, W], "counts": storage.mask_encode(raster)[0]}}

    def put():
        response = client.put(f"/api/v1/targets/{world.target_id}/mask/", data=body, format="json")
        assert response.status_code == 200, response.content
        got = client.get(f"/api/v1/targets/{world.target_id}/mask/", {"format": "png"})
        assert np.array_equal(storage.mask_png_decode(got.content, H, W), raster)
        rle = response.json()["rle"]
        assert np.array_equal(storage.mask_decode(rle["counts"], *rle["size"]), raster)

    rolled_back(put)


# --- Dataset JSON imports (point JSON, COCO) ----------------------------------------------------
image_entries = st.fixed_dictionaries(
    {"id": st.just(1) | json_values, "file_name": st.sampled_from(["a.png", "images/a.png", "b.png"]) | json_values},
    optional={"height": st.just(H) | json_values, "width": st.just(W) | json_values, "split": json_values},
)
annotations = st.fixed_dictionaries(
    {"image_id": st.just(1) | json_values, "segmentation": segmentations},
    optional={
        "id": json_values,
        "keypoints": st.lists(coordinates, max_size=4) | json_values,
        "attributes": st.dictionaries(st.sampled_from(["point", "state", "score", "note"]), json_values, max_size=3)
        | json_values,
    },
)
coco_documents = st.fixed_dictionaries(
    {"images": st.lists(image_entries, max_size=2) | json_values, "annotations": st.lists(annotations, max_size=3)}
)
point_entries = (
    st.fixed_dictionaries({"x": point_values, "y": point_values}, optional={"label": json_values, "mask": json_values})
    | st.lists(point_values, max_size=3)
    | json_values
)
point_documents = st.one_of(
    st.fixed_dictionaries({"points": st.lists(point_entries, max_size=4)}),
    st.fixed_dictionaries({"a.png": st.lists(point_entries, max_size=4)}),
    json_values,
)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _import(world, files: dict[str, bytes]) -> Job:
    from labeling.models import Project

    project = Project.objects.get(pk=world.project_id)
    upload = SimpleUploadedFile("dataset.zip", _zip(files), content_type="application/zip")
    owner = User.objects.get(pk=world.owner_id)
    job = dataset_import_request(project=project, upload=upload, actor=owner, confirm=True, enqueue=False)
    dataset_import(job_id=job.pk)  # the worker's function, run here: it must finish, never raise
    job.refresh_from_db()
    return job


def _stored_labels_are_sane(world) -> None:
    _stored_targets_are_sane()
    for image in Image.objects.filter(project_id=world.project_id):
        for stored in Mask.objects.filter(image=image):
            assert storage.mask_decode(stored.rle, image.height, image.width).sum() == stored.area
            json.dumps(stored.provenance, allow_nan=False)  # what PostgreSQL holds is strict JSON


IMPORT = settings(DB, max_examples=15 * SCALE)
FRAME = png_bytes(gradient(H, W, seed=11))
INSTANCES = png_bytes(np.pad(np.array([[1, 1], [2, 2]], np.uint8), ((2, 12), (2, 20))))


@IMPORT
@given(document=coco_documents, nan=st.booleans())
@example(document={"images": [{"id": [1], "file_name": "a.png"}], "annotations": []}, nan=False)
@example(document={"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": {}}]}, nan=False)
@example(
    document={
        "images": [{"id": 1, "file_name": "a.png"}],
        "annotations": [
            {
                "image_id": 1,
                "segmentation": {"size": [H, W], "counts": [0, 3, H * W - 3]},
                "attributes": {"point": [0, 1], "score": float("nan")},  # Python's JSON reads NaN, PostgreSQL's not
            }
        ],
    },
    nan=True,
)
@example(  # our export's own image keys, hostile: points without masks, restored at their index on import
    document={
        "images": [
            {
                "id": 1,
                "file_name": "a.png",
                "complete": "yes",
                "unmasked_points": [
                    {"x": "a", "y": None, "index": True},
                    5,
                    {"x": 1e308, "y": 2, "index": -1},
                    {"x": 3, "y": 4, "index": 10**30},
                    {"x": 2.5, "y": float("nan"), "index": 0},
                    {"x": 2, "y": 3},
                ],
            }
        ],
        "annotations": [],
    },
    nan=True,
)
def test_coco_import_never_crashes(world, document, nan):
    text = json.dumps(document, allow_nan=True) if nan else _json_or_none(document)
    if text is None:
        text = json.dumps(document, allow_nan=True)

    def run():
        job = _import(world, {"images/a.png": FRAME, "annotations/coco.json": text.encode()})
        assert job.status == JobStatus.SUCCEEDED, (job.status, job.message)
        _stored_labels_are_sane(world)

    rolled_back(run)


@IMPORT
@given(document=point_documents, with_instances=st.booleans())
@example(document={"points": [{"x": 3, "y": 3, "label": [1]}]}, with_instances=True)  # an unhashable label
@example(document={"points": [{"x": 3, "y": 3, "label": {"a": 1}}]}, with_instances=True)
def test_point_json_import_never_crashes(world, document, with_instances):
    files = {"images/a.png": FRAME, "points/a.json": json.dumps(document, allow_nan=True).encode()}
    if with_instances:
        files["instances/a.png"] = INSTANCES

    def run():
        job = _import(world, files)
        assert job.status == JobStatus.SUCCEEDED, (job.status, job.message)
        _stored_labels_are_sane(world)

    rolled_back(run)


@settings(IMPORT, max_examples=6)
@given(raster=arrays(np.bool_, (H, W), elements=st.booleans()).filter(np.any), compressed=st.booleans())
def test_coco_import_round_trip(world, raster, compressed):
    """A valid COCO RLE (compressed string or list of runs) and point land exactly as written."""
    counts = storage.mask_encode(raster)[0]
    runs = storage.rle_counts_parse(counts)
    rows, cols = np.nonzero(raster)
    point = [float(cols[0]), float(rows[0])]
    document = {
        "images": [{"id": 7, "file_name": "a.png", "height": H, "width": W}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "segmentation": {"size": [H, W], "counts": counts if compressed else runs},
                "attributes": {"point": point},
            }
        ],
    }

    def run():
        job = _import(world, {"images/a.png": FRAME, "annotations/coco.json": json.dumps(document).encode()})
        assert job.status == JobStatus.SUCCEEDED and not job.errors, (job.message, job.errors)
        image = Image.objects.get(project_id=world.project_id, original_name="a.png")
        target = Target.objects.get(image=image)
        assert [target.x, target.y] == point
        assert np.array_equal(storage.mask_decode(Mask.objects.get(target=target).rle, H, W), raster)

    rolled_back(run)


@PURE
@given(points=st.lists(point_entries, max_size=6) | json_values)
def test_points_from_json_only_label_errors(points):
    if not isinstance(points, list):
        points = [points]
    try:
        parsed = formats.points_from_json(points, H, W)
    except formats.LabelError:
        return
    for point in parsed:
        assert math.isfinite(point["x"]) and -0.5 <= point["x"] < W - 0.5
        assert math.isfinite(point["y"]) and -0.5 <= point["y"] < H - 0.5


# --- Upload file names ---------------------------------------------------------------------------
HOSTILE_NAMES = ["../../etc/passwd", "..\\..\\win.ini", "/abs/path.png", "a\x00b.png", "<script>x</script>.html"]
HOSTILE_NAMES += [".", "é" * 300, "CON", "x.png\r\nX-Injected: 1"]
file_names = st.text(max_size=300) | st.sampled_from(HOSTILE_NAMES)


BOUNDARY = "fuzzboundary7d1f"


def _multipart(file_name: str, data: bytes) -> bytes:
    """A multipart body written by hand: the file name goes out raw (the test client would refuse some)."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
    head += "Content-Type: text/html\r\n\r\n"
    return head.encode("utf-8", "surrogatepass") + data + f"\r\n--{BOUNDARY}--\r\n".encode()


@DB
@given(name=file_names)
def test_upload_file_names_are_never_paths_or_html(world, owner_client, name):
    """Whatever the client calls its file, the stored path is the content hash, and it comes back as an image
    attachment with nosniff, under a cleaned name."""

    def run():
        blob = png_bytes(gradient(H, W, seed=99))
        before = row_counts()
        response = owner_client.post(
            f"/api/v1/projects/{world.project_id}/images/",
            data=_multipart(name, blob),
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        )
        event(f"upload answered {response.status_code}")
        if response.status_code == 400:  # a name that leaves nothing (or breaks the part): no file, nothing stored
            assert set(response.json()) == {"message", "extra"} and row_counts() == before
            return
        assert response.status_code == 201, response.content[:300]
        image = Image.objects.get(pk=response.json()["created"][0]["id"])
        digest = image.content_hash
        assert image.file.name == f"projects/{world.project_id}/images/{digest[:2]}/{digest}.png"
        assert not any(c in image.original_name for c in "/\\\x00") and len(image.original_name) <= 255
        got = owner_client.get(f"/api/v1/images/{image.pk}/file/")
        assert got["Content-Type"] == "image/png" and got["X-Content-Type-Options"] == "nosniff"
        disposition = got["Content-Disposition"]
        assert disposition.startswith("attachment;") and "/" not in disposition and "\\" not in disposition
        assert b"".join(got.streaming_content if got.streaming else [got.content]) == blob

    rolled_back(run)


# --- JSON nesting -------------------------------------------------------------------------------
DEEP = 100_000  # far past Python's recursion limit: json.loads raises RecursionError, not ValueError


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/api/v1/projects/", "[" * DEEP + "]" * DEEP),
        ("post", "/api/v1/projects/", '{"name": "p", "settings": ' + "[" * DEEP + "]" * DEEP + "}"),
        ("post", "/api/v1/images/{image_id}/targets/", '{"x": ' + "[" * DEEP + "]" * DEEP + "}"),
        ("put", "/api/v1/targets/{target_id}/mask/", "{" + '"a":{' * DEEP + "}" * DEEP + "}"),
    ],
)
def test_deeply_nested_json_body_is_a_400(world, owner_client, method, path, body):
    before = row_counts()
    url = path.format(image_id=world.image_id, target_id=world.target_id)
    response = getattr(owner_client, method)(url, data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert set(response.json()) == {"message", "extra"}
    assert row_counts() == before


def test_deeply_nested_json_form_field_is_a_400(world, owner_client):
    """A JSON field sent as form data is parsed by the field itself."""
    before = row_counts()
    data = {"name": "p", "settings": "[" * DEEP + "]" * DEEP}
    response = owner_client.post("/api/v1/projects/", data, format="multipart")
    assert response.status_code == 400, response.content[:300]
    assert row_counts() == before


@pytest.mark.parametrize("name", ["annotations/coco.json", "points/a.json"])
def test_deeply_nested_json_in_an_import_is_reported(world, name):
    def run():
        job = _import(world, {"images/a.png": FRAME, name: ("[" * DEEP + "]" * DEEP).encode()})
        assert job.status == JobStatus.SUCCEEDED, (job.status, job.message)
        assert any(name in error["message"] for error in job.errors), job.errors
        assert Image.objects.filter(project_id=world.project_id, original_name="a.png").exists()

    rolled_back(run)


# --- Query parameters of list endpoints ---------------------------------------------------------
def _cursor(position) -> str:
    return base64.b64encode(urlencode({"p": position, "o": "0"}).encode()).decode()


query_values = (
    st.text(max_size=12)
    | st.integers(-(10**30), 10**30).map(str)
    | st.sampled_from(["", "me", "none", "²", "٣", "1" * 30, "-1", "0", "true", "null", "NaN", "\x00", "50000"])
)
cursors = (st.text(max_size=12) | st.integers(-(10**30), 10**30).map(str)).map(_cursor) | st.text(max_size=16)
LIST_PARAMS = [
    "status",
    "split",
    "assigned_to",
    "has_targets",
    "has_warnings",
    "kind",
    "page_size",
    "ordering",
    "page",
    "format",
    "wait",
    "search",
    "limit",
    "offset",
]


@DB
@given(
    path=st.sampled_from(["images", "jobs", "audit", "members", "model-versions", "stats"]),
    params=st.dictionaries(st.sampled_from(LIST_PARAMS) | st.text(max_size=5), query_values, max_size=4),
    cursor=st.none() | cursors,
)
@example(path="images", params={"assigned_to": "²"}, cursor=None)  # str.isdigit() is true, int() fails
@example(path="images", params={}, cursor=_cursor("abc"))  # a forged cursor position
@example(path="jobs", params={}, cursor=_cursor("1" * 30))
@example(path="images", params={"assigned_to": "1" * 30}, cursor=None)
def test_list_query_parameters_never_500(world, owner_client, path, params, cursor):
    client = owner_client
    query = dict(params)
    if cursor is not None:
        query["cursor"] = cursor

    def get():
        response = client.get(f"/api/v1/projects/{world.project_id}/{path}/", query)
        assert response.status_code in (200, 400, 404), (response.status_code, response.content[:300])
        if response.status_code != 200:
            assert set(response.json()) == {"message", "extra"}

    rolled_back(get)


@DB
@given(
    endpoint=st.sampled_from(["generation/", "pixels/", "file/", "masks/", "targets/"]),
    params=st.dictionaries(st.sampled_from(["wait", "format"]), query_values, max_size=2),
)
def test_image_query_parameters_never_500(world, owner_client, endpoint, params):
    client = owner_client
    if "wait" in params:
        try:
            if 0 < float(params["wait"]) <= 5:
                params["wait"] = "0.01"  # a valid wait only sleeps here (no worker runs)
        except ValueError:
            pass

    def get():
        response = client.get(f"/api/v1/images/{world.image_id}/{endpoint}", params)
        assert response.status_code in (200, 400, 404, 406), (response.status_code, response.content[:300])

    rolled_back(get)
