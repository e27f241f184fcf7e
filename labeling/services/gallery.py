"""The review gallery's tiles: a small PNG per target (a zoomed window around its point with the mask's outline),
rendered on the server and cached by the target's and mask's versions, so a page of 50 tiles costs 50 small
images and no full frame in the browser."""

# A read that decodes pixels, not a write: it lives with the services (next to storage and the cache) rather than in
# selectors, which stay pure queries.

import hashlib
import io
import threading
from collections import OrderedDict

import numpy as np
from django.core.cache import cache
from PIL import Image as PILImage

from labeling import storage
from labeling.models import Image, Mask, Target

CROP_RENDER = 1  # bump when the drawing changes: every cached tile and ETag changes with it
CROP_SIZES = (48, 64, 96, 128, 192)  # tile sides (screen pixels) a client may ask for
CROP_MIN_WINDOW = 16  # image pixels around the point at least: a 96-pixel tile shows each pixel 6 times larger
CROP_MARGIN = 6  # image pixels kept around a mask larger than the minimum window
CROP_MAX_WINDOW = 160
CACHE_SECONDS = 7 * 24 * 3600
OUTLINE = (255, 200, 0)  # amber: visible on grey IR backgrounds and on the bright target itself
POINT = (0, 220, 255)

_PIXELS: "OrderedDict[tuple[int, str], np.ndarray]" = OrderedDict()
_PIXELS_BUDGET = 128 * 1024 * 1024  # decoded frames kept per process: consecutive tiles often share a frame
_PIXELS_LOCK = threading.Lock()


def crop_etag(target: Target, mask: Mask | None, size: int) -> str:
    """Changes whenever the tile would: the point moved, the mask was edited, confirmed or rejected (its version), or
    the drawing code changed."""
    parts = [
        target.pk,
        target.version,
        getattr(mask, "pk", 0),
        getattr(mask, "version", 0),
        target.image.content_hash[:16],
        size,
        CROP_RENDER,
    ]
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:20]


def _frame(image: Image) -> np.ndarray:
    key = (image.pk, image.content_hash)
    with _PIXELS_LOCK:
        if key in _PIXELS:
            _PIXELS.move_to_end(key)
            return _PIXELS[key]
    pixels = storage.read_pixels(image)
    with _PIXELS_LOCK:
        _PIXELS[key] = pixels
        while sum(p.nbytes for p in _PIXELS.values()) > _PIXELS_BUDGET and len(_PIXELS) > 1:
            _PIXELS.popitem(last=False)
    return pixels


def crop_window(target: Target, mask: Mask | None, height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) in image pixels: a square around the point and the mask's box, at least CROP_MIN_WINDOW."""
    px, py = int(np.floor(target.x + 0.5)), int(np.floor(target.y + 0.5))
    x0, y0, x1, y1 = px, py, px + 1, py + 1
    if mask is not None and mask.bbox and mask.area:
        bx, by, bw, bh = mask.bbox
        x0, y0, x1, y1 = min(x0, bx), min(y0, by), max(x1, bx + bw), max(y1, by + bh)
    side = int(min(max(CROP_MIN_WINDOW, max(x1 - x0, y1 - y0) + 2 * CROP_MARGIN), CROP_MAX_WINDOW))
    return (y0 + y1 - side) // 2, (x0 + x1 - side) // 2, side


def _window(array: np.ndarray, top: int, left: int, side: int, fill: float) -> np.ndarray:
    """array[top:top+side, left:left+side], padded with `fill` where the window leaves the frame."""
    out = np.full((side, side), fill, dtype=array.dtype)
    h, w = array.shape
    r0, c0, r1, c1 = max(top, 0), max(left, 0), min(top + side, h), min(left + side, w)
    if r0 < r1 and c0 < c1:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = array[r0:r1, c0:c1]
    return out


def _stretch(window: np.ndarray) -> np.ndarray:
    """Local contrast: the window's 2nd percentile to its maximum (a small target is the brightest thing near it)."""
    values = window.astype(np.float32)
    low, high = float(np.percentile(values, 2)), float(values.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.clip((values - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)


def _outline(raster: np.ndarray) -> np.ndarray:
    """The mask's pixels that touch a pixel outside it (4-neighbours): a one-pixel line inside its edge."""
    padded = np.pad(raster, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return raster & ~inner


def crop_render(target: Target, mask: Mask | None, size: int) -> bytes:
    """An RGB PNG of `size` x `size`: the window around the target, nearest-neighbour zoom (pixels stay square and
    countable), the mask's outline drawn at the zoomed resolution, and the point's pixel marked at the centre."""
    image = target.image
    pixels = _frame(image)
    top, left, side = crop_window(target, mask, image.height, image.width)
    grey = _stretch(_window(pixels, top, left, side, fill=float(pixels.min())))
    index = np.arange(size) * side // size  # zoomed pixel -> window pixel
    rgb = np.repeat(grey[np.ix_(index, index)][:, :, None], 3, axis=2)
    if mask is not None and mask.area:
        raster = storage.mask_decode(mask.rle, image.height, image.width)
        zoomed = _window(raster, top, left, side, fill=False)[np.ix_(index, index)]
        rgb[_outline(zoomed)] = OUTLINE
    row, col = int(np.floor(target.y + 0.5)) - top, int(np.floor(target.x + 0.5)) - left
    scale = size / side
    r, c = int((row + 0.5) * scale), int((col + 0.5) * scale)
    half = max(1, int(scale // 4))  # inside the point's zoomed pixel: a one-pixel mask's outline stays visible
    rgb[max(r - half, 0) : r + half, max(c - half, 0) : c + half] = POINT
    buffer = io.BytesIO()
    PILImage.fromarray(rgb, "RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def crop_png(target: Target, mask: Mask | None, size: int) -> tuple[bytes, str]:
    """(PNG bytes, ETag) of the target's tile, from the shared cache when this version was drawn before."""
    etag = crop_etag(target, mask, size)
    key = f"gallery-crop:{etag}"
    data = cache.get(key)
    if data is None:
        data = crop_render(target, mask, size)
        cache.set(key, data, CACHE_SECONDS)
    return data, etag
