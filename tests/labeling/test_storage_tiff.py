"""TIFFs as other tools write them: LZW and Deflate from tifffile and Pillow (8- and 16-bit, with and without a
predictor) decode to the exact pixels, and a multi-page TIFF becomes an ordered set of frames, one Image per page."""

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.management import call_command
from django.urls import reverse
from PIL import Image as PILImage

from labeling import storage
from labeling.models import Image
from labeling.services import images_upload
from tests.factories import gradient
from tests.labeling.apis.test_images import upload


def tifffile_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def pillow_tiff_bytes(array: np.ndarray, compression: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="TIFF", compression=compression)  # uint16 -> I;16
    return buffer.getvalue()


def tifffile_pages(pages: list[np.ndarray], **kwargs) -> bytes:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for page in pages:
            writer.write(page, **kwargs)
    return buffer.getvalue()


def pillow_pages(pages: list[np.ndarray], compression: str) -> bytes:
    buffer = io.BytesIO()
    first, *rest = [PILImage.fromarray(page) for page in pages]
    first.save(buffer, format="TIFF", save_all=True, append_images=rest, compression=compression)
    return buffer.getvalue()


WRITERS = {
    "tifffile-lzw": lambda a: tifffile_bytes(a, compression="lzw"),
    "tifffile-lzw-predictor": lambda a: tifffile_bytes(a, compression="lzw", predictor=True),
    "tifffile-zlib": lambda a: tifffile_bytes(a, compression="zlib"),
    "tifffile-zlib-predictor": lambda a: tifffile_bytes(a, compression="zlib", predictor=True),
    "tifffile-deflate": lambda a: tifffile_bytes(a, compression="deflate"),
    "tifffile-lzw-tiled": lambda a: tifffile_bytes(a, compression="lzw", tile=(16, 16)),
    "pillow-lzw": lambda a: pillow_tiff_bytes(a, "tiff_lzw"),
    "pillow-adobe-deflate": lambda a: pillow_tiff_bytes(a, "tiff_adobe_deflate"),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])
@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_compressed_tiff_decodes_to_the_exact_pixels(writer, dtype):
    pixels = gradient(37, 45, seed=4, dtype=dtype)
    decoded = storage.decode_image(writer(pixels))
    assert (decoded.format, decoded.dtype, decoded.bit_depth) == ("TIFF", np.dtype(dtype).name, 8 * pixels.itemsize)
    assert np.array_equal(decoded.pixels, pixels)


def test_lzw_rgb_tiff_becomes_luminance():
    rgb = np.zeros((6, 7, 3), np.uint8)
    rgb[..., 1] = 100
    decoded = storage.decode_image(tifffile_bytes(rgb, photometric="rgb", compression="lzw"))
    assert decoded.channels == 3
    assert np.all(decoded.pixels == round(100 * 0.587))


def _stack(dtype: type, count: int = 3) -> list[np.ndarray]:
    return [gradient(20, 30, seed=10 + i, dtype=dtype) for i in range(count)]


PAGE_WRITERS = {
    "tifffile": lambda pages: tifffile_pages(pages),
    "tifffile-lzw": lambda pages: tifffile_pages(pages, compression="lzw"),
    "tifffile-zlib": lambda pages: tifffile_pages(pages, compression="zlib", predictor=True),
    "tifffile-3d-array": lambda pages: tifffile_bytes(np.stack(pages), compression="lzw", photometric="minisblack"),
    "pillow-lzw": lambda pages: pillow_pages(pages, "tiff_lzw"),
    "pillow-adobe-deflate": lambda pages: pillow_pages(pages, "tiff_adobe_deflate"),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])
@pytest.mark.parametrize("writer", PAGE_WRITERS.values(), ids=PAGE_WRITERS.keys())
def test_tiff_pages_split_in_order_with_exact_pixels(writer, dtype):
    pages = _stack(dtype)
    frames = storage.tiff_pages(writer(pages))
    assert len(frames) == 3
    for frame, page in zip(frames, pages, strict=True):
        decoded = storage.decode_image(frame)
        assert (decoded.format, decoded.dtype) == ("TIFF", np.dtype(dtype).name)
        assert np.array_equal(decoded.pixels, page)


def test_a_single_page_tiff_or_another_format_is_not_split():
    data = tifffile_bytes(gradient(), compression="lzw")
    assert storage.tiff_pages(data) == [data]
    assert storage.tiff_pages(b"\x89PNG\r\n\x1a\n") == [b"\x89PNG\r\n\x1a\n"]


def test_a_stored_original_is_one_frame():
    """decode_image reads a stored original, always one page; pages are split before anything is stored."""
    with pytest.raises(storage.InvalidImage) as caught:
        storage.decode_image(tifffile_pages(_stack(np.uint8, 2)))
    assert "multi-page" in caught.value.message


def test_too_many_pages_is_413(settings):
    settings.IMAGE_MAX_PAGES = 2
    with pytest.raises(storage.InvalidImage) as caught:
        storage.tiff_pages(tifffile_pages(_stack(np.uint8, 3)))
    assert caught.value.status_code == 413
    assert "3 pages" in caught.value.message


@pytest.mark.django_db
def test_images_upload_makes_one_image_per_page_in_order(project, manager):
    pages = _stack(np.uint16, 12)
    created, errors = images_upload(
        project=project, files=[("scan.tiff", tifffile_pages(pages, compression="lzw"))], actor=manager
    )
    assert errors == []
    assert [image.original_name for image in created] == [f"scan_p{i:04d}.tif" for i in range(1, 13)]
    assert [image.pk for image in created] == sorted(image.pk for image in created)
    for image, page in zip(created, pages, strict=True):
        assert (image.format, image.dtype, image.width, image.height) == ("TIFF", "uint16", 30, 20)
        assert np.array_equal(storage.read_pixels(image), page)


@pytest.mark.django_db
def test_a_bad_page_is_refused_alone(project, manager):
    pages = [gradient(20, 30, seed=1), np.zeros((20, 30), np.float32), gradient(20, 30, seed=2)]
    data = tifffile_pages(pages, compression="lzw")
    created, errors = images_upload(project=project, files=[("stack.tif", data)], actor=manager)
    assert [image.original_name for image in created] == ["stack_p0001.tif", "stack_p0003.tif"]
    assert len(errors) == 1
    assert errors[0]["file"] == "stack_p0002.tif"
    assert "float TIFF" in errors[0]["message"]


@pytest.mark.django_db
def test_upload_api_accepts_lzw_and_multi_page(project, manager, client_for):
    single = pillow_tiff_bytes(gradient(8, 9, seed=7, dtype=np.uint16), "tiff_lzw")
    stack = pillow_pages(_stack(np.uint8), "tiff_adobe_deflate")
    response = upload(client_for(manager), project, ("one.tif", single), ("cube.tif", stack))
    assert response.status_code == 201, response.json()
    names = [image["original_name"] for image in response.json()["created"]]
    assert names == ["one.tif", "cube_p0001.tif", "cube_p0002.tif", "cube_p0003.tif"]
    listed = client_for(manager).get(reverse("image-list", kwargs={"project_id": project.pk})).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["original_name"] for row in rows] == names


@pytest.mark.django_db
def test_importimages_splits_pages(project, tmp_path: Path):
    (tmp_path / "stack.tif").write_bytes(tifffile_pages(_stack(np.uint16, 2), compression="lzw"))
    call_command("importimages", str(tmp_path), project=project.pk, no_progress=True)
    assert list(Image.objects.filter(project=project).values_list("original_name", flat=True)) == [
        "stack_p0001.tif",
        "stack_p0002.tif",
    ]
