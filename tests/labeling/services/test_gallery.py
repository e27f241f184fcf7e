"""Gallery tiles: the window follows the point and the mask's box, leaves the frame padded, a one-pixel mask keeps a
visible outline, and a drawn tile is kept in the shared cache under its version."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.cache import cache
from PIL import Image as PILImage

from labeling.services import gallery
from tests.factories import ImageFactory, MaskFactory, TargetFactory

pytestmark = pytest.mark.django_db


def fake(x: float, y: float, bbox: list[int] | None = None, area: int = 0):
    target = SimpleNamespace(x=x, y=y)
    mask = SimpleNamespace(bbox=bbox or [], area=area) if bbox else None
    return target, mask


def test_window_is_the_minimum_square_around_a_small_target():
    target, mask = fake(30.0, 20.0, [29, 19, 3, 3], 9)
    # the box is rows 19-21 and columns 29-31 (with the point): 16 pixels, centred on it
    assert gallery.crop_window(target, mask, 100, 100) == (12, 22, 16)


def test_window_grows_with_a_large_mask_and_covers_a_point_outside_it():
    target, mask = fake(10.0, 10.0, [20, 10, 30, 5], 150)  # the mask spans x 20-49; its point is at x 10
    top, left, side = gallery.crop_window(target, mask, 100, 100)
    assert side == 40 + 2 * gallery.CROP_MARGIN  # x 10..49 and a margin on each side
    assert left <= 10 and left + side >= 50 and top <= 10 and top + side >= 15
    huge, big = fake(50.0, 50.0, [0, 0, 400, 400], 160000)
    assert gallery.crop_window(huge, big, 400, 400)[2] == gallery.CROP_MAX_WINDOW


def test_window_leaving_the_frame_is_padded():
    array = np.arange(16, dtype=np.uint16).reshape(4, 4)
    out = gallery._window(array, -2, 1, 4, fill=99)
    assert out[:2].tolist() == [[99] * 4, [99] * 4]
    assert out[2:].tolist() == [[1, 2, 3, 99], [5, 6, 7, 99]]


def test_one_pixel_mask_is_outlined_around_its_zoomed_pixel(project):
    image = ImageFactory(project=project, pixels=np.full((32, 32), 500, np.uint16))
    target = TargetFactory(image=image, x=16, y=16)
    raster = np.zeros((32, 32), bool)
    raster[16, 16] = True
    mask = MaskFactory(target=target, raster=raster)
    rgb = np.asarray(PILImage.open(io.BytesIO(gallery.crop_render(target, mask, 96))).convert("RGB"))
    # the window is 16 pixels from row and column 8, zoomed x6: the pixel is zoomed rows and columns 48-53
    ring = [(48, c) for c in range(48, 54)] + [(53, c) for c in range(48, 54)] + [(r, 48) for r in range(48, 54)]
    assert all(list(rgb[r, c]) == list(gallery.OUTLINE) for r, c in ring)
    assert list(rgb[50, 50]) == list(gallery.POINT)  # the point inside the ring, not over it


def test_a_drawn_tile_is_kept_by_version(project):
    cache.clear()
    image = ImageFactory(project=project, pixels=np.full((32, 32), 500, np.uint16))
    target = TargetFactory(image=image, x=16, y=16)
    mask = MaskFactory(target=target)
    first, etag = gallery.crop_png(target, mask, 64)
    assert PILImage.open(io.BytesIO(first)).size == (64, 64)
    assert cache.get(f"gallery-crop:{etag}") == first  # the next request (any process, with Redis) reads it there
    assert gallery.crop_png(target, mask, 64) == (first, etag)
    mask.version += 1  # an edit, a confirm or a reject: another version, another tile
    assert gallery.crop_etag(target, mask, 64) != etag
