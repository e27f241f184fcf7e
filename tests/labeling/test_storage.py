"""Storage: format detection from content, refusals with reasons, exact pixels, mask codecs, safe saving."""

import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
from django.core.files.storage import default_storage
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image as PILImage

from labeling import storage
from tests.factories import gradient, png_bytes
from tests.labeling.services.test_images import bomb_png, tiff_bytes


def pil_bytes(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "fmt", "dtype", "channels"),
    [
        (png_bytes(gradient()), "PNG", "uint8", 1),
        (png_bytes(gradient(dtype=np.uint16)), "PNG", "uint16", 1),
        (tiff_bytes(gradient()), "TIFF", "uint8", 1),
        (tiff_bytes(gradient(dtype=np.uint16)), "TIFF", "uint16", 1),
        (tiff_bytes(np.zeros((16, 24, 3), np.uint8), photometric="rgb"), "TIFF", "uint8", 3),
        (pil_bytes(gradient(), "JPEG"), "JPEG", "uint8", 1),
        (pil_bytes(np.zeros((16, 24, 3), np.uint8), "JPEG"), "JPEG", "uint8", 3),
        (pil_bytes(np.zeros((16, 24, 4), np.uint8), "PNG"), "PNG", "uint8", 4),
        (pil_bytes(gradient(), "BMP"), "BMP", "uint8", 1),
    ],
)
def test_decode_accepts(data, fmt, dtype, channels):
    decoded = storage.decode_image(data)
    assert (decoded.format, decoded.dtype, decoded.channels, decoded.pixels.shape) == (fmt, dtype, channels, (16, 24))


def test_rgb_luminance_is_itu_601():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    pixels = storage.decode_image(pil_bytes(rgb, "PNG")).pixels
    expected = np.round(rgb @ np.array([0.299, 0.587, 0.114]))
    assert np.abs(pixels.astype(int) - expected).max() <= 1


def test_planar_rgb_tiff():
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 2] = 200
    decoded = storage.decode_image(tiff_bytes(np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate"))
    assert decoded.pixels.shape == (5, 6)
    assert np.all(decoded.pixels == round(200 * 0.114))


def test_tiff_pixels_exact_16bit():
    pixels = gradient(9, 7, dtype=np.uint16)
    assert np.array_equal(storage.decode_image(tiff_bytes(pixels)).pixels, pixels)


def two_page_tiff() -> bytes:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        writer.write(np.zeros((4, 4), np.uint8))
        writer.write(np.ones((4, 4), np.uint8))
    return buffer.getvalue()


def _png_with_ihdr(bit_depth: int, color_type: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", 4, 4, bit_depth, color_type, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"", 400, "not an image"),
        (b"GIF89a....", 400, "not an image"),
        (png_bytes(gradient())[:-20], 400, "truncated"),
        (pil_bytes(gradient(64, 64), "JPEG")[:200], 400, "truncated"),
        (tiff_bytes(gradient(64, 64))[:300], 400, "truncated"),
        (bomb_png(0, 5), 400, "empty"),
        (bomb_png(), 413, "too large"),
        (bomb_png(16385, 1), 413, "too large"),
        (_png_with_ihdr(16, 6), 400, "16-bit PNG with 4 channels"),
        (_png_with_ihdr(16, 2), 400, "16-bit PNG with 3 channels"),
        (tiff_bytes(np.zeros((4, 4, 4), np.uint16), photometric="rgb"), 400, "16-bit TIFF with 4 channels"),
        (tiff_bytes(np.zeros((4, 4), np.float32)), 400, "float TIFF"),
        (tiff_bytes(np.zeros((4, 4), np.int32)), 400, "not supported"),
        (two_page_tiff(), 400, "multi-page"),
    ],
    ids=[
        "empty",
        "gif",
        "png-cut",
        "jpeg-cut",
        "tiff-cut",
        "zero-width",
        "bomb",
        "side",
        "png-rgba16",
        "png-rgb16",
        "tiff-rgba16",
        "tiff-float",
        "tiff-int32",
        "tiff-pages",
    ],
)
def test_decode_refuses(data, status, reason):
    with pytest.raises(storage.InvalidImage) as caught:
        storage.decode_image(data)
    assert caught.value.status_code == status
    assert reason in caught.value.message


def test_bomb_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(PILImage, "open", lambda *a, **k: pytest.fail("the header check must come first"))
    with pytest.raises(storage.InvalidImage):
        storage.decode_image(bomb_png())


def test_pillow_decompression_bomb_is_413(settings, monkeypatch):
    settings.IMAGE_MAX_PIXELS = 10**12
    settings.IMAGE_MAX_SIDE = 10**6
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(storage.InvalidImage) as caught:
        storage.decode_image(pil_bytes(gradient(64, 64), "JPEG"))
    assert caught.value.status_code == 413


@hypothesis_settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_mask_rle_round_trip(raster):
    counts, area, bbox = storage.mask_encode(raster)
    assert area == raster.sum()
    assert np.array_equal(storage.mask_decode(counts, *raster.shape), raster)
    assert np.array_equal(storage.mask_png_decode(storage.mask_png_encode(raster), *raster.shape), raster)
    if area:
        ys, xs = np.nonzero(raster)
        assert bbox == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


@pytest.mark.parametrize("counts", ["", "0", "\x7f", "1?", "a" * 5])
def test_mask_decode_refuses_bad_rle(counts):
    with pytest.raises(ValueError):
        storage.mask_decode(counts, 3, 3)


def test_mask_png_wrong_size():
    with pytest.raises(ValueError, match="the image is 4x3"):
        storage.mask_png_decode(storage.mask_png_encode(np.zeros((3, 5), bool)), 3, 4)


def test_pixels_png_round_trip():
    for pixels in (gradient(), gradient(dtype=np.uint16)):
        decoded = np.asarray(PILImage.open(io.BytesIO(storage.pixels_png_encode(pixels))))
        assert decoded.dtype == pixels.dtype and np.array_equal(decoded, pixels)


def test_save_bytes_reuses_identical_and_cleans_up_failures(monkeypatch):
    name, created = storage.save_bytes("t/a.bin", b"abc")
    assert (name, created) == ("t/a.bin", True)
    assert storage.save_bytes("t/a.bin", b"abc") == ("t/a.bin", False)

    def exploding_save(path, content, *args, **kwargs):
        with default_storage.open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(default_storage, "save", exploding_save)
    with pytest.raises(OSError):
        storage.save_bytes("t/b.bin", b"abcdef")
    assert not default_storage.exists("t/b.bin")
