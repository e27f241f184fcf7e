"""Image and mask bytes: decode/validate originals from content, read pixels, mask RLE/PNG codecs, file saving."""

import errno
import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import tifffile
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageFile
from pycocotools import mask as coco_mask

from labeling.exceptions import ApplicationError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail the full decode, not come back half grey

CONTENT_TYPES = {"PNG": "image/png", "TIFF": "image/tiff", "JPEG": "image/jpeg", "BMP": "image/bmp"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class InvalidImage(ApplicationError):
    """The bytes are not an image this app can keep (400), or one too large to decode (413)."""


@dataclass(frozen=True)
class DecodedImage:
    format: str  # PNG / TIFF / JPEG / BMP
    width: int
    height: int
    dtype: str  # uint8 / uint16 of `pixels`
    bit_depth: int
    channels: int  # of the original file
    pixels: np.ndarray  # (H, W) luminance at full bit depth

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def detect_format(data: bytes) -> str | None:
    """The format named by the file's magic bytes (the client's file name is never trusted)."""
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"BM") and len(data) >= 26:
        return "BMP"
    return None


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImage(f"the image is empty ({width}x{height} pixels)")
    if (
        width > settings.IMAGE_MAX_SIDE
        or height > settings.IMAGE_MAX_SIDE
        or width * height > settings.IMAGE_MAX_PIXELS
    ):
        raise InvalidImage(
            f"the image is too large ({width}x{height} pixels; the limits are {settings.IMAGE_MAX_SIDE} pixels a side "
            f"and {settings.IMAGE_MAX_PIXELS} pixels in all)",
            extra={"width": width, "height": height},
            status_code=413,
        )


def decode_image(data: bytes) -> DecodedImage:
    """Validate an uploaded original and return its luminance pixels; raises InvalidImage naming the reason."""
    fmt = detect_format(data)
    if fmt is None:
        raise InvalidImage("not an image (PNG, TIFF, JPEG or BMP expected)")
    try:
        if fmt == "TIFF":
            return _decode_tiff_checked(data)
        if fmt == "PNG":
            _check_png_header(data)
            with PILImage.open(io.BytesIO(data), formats=["PNG"]) as png:
                png.verify()  # every chunk's CRC, through IEND: a cut or damaged file fails here
        return _decode_pillow(data, fmt)
    except InvalidImage:
        raise
    except PILImage.DecompressionBombError as exc:
        raise InvalidImage(f"the image is too large to decode safely ({exc})", status_code=413) from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, IndexError, KeyError) as exc:
        raise InvalidImage(f"the {fmt} file is truncated or corrupt ({exc})") from exc


def _decode_tiff_checked(data: bytes) -> DecodedImage:
    """tifffile parses hostile bytes with plain Python and fails in many ways (a damaged tag gave TypeError:
    '<' not supported between 'tuple' and 'int'); any of them is a corrupt file, not a server error."""
    try:
        return _decode_tiff(data)
    except (InvalidImage, MemoryError):
        raise
    except Exception as exc:
        raise InvalidImage(f"the TIFF file is truncated or corrupt ({type(exc).__name__}: {exc})"[:300]) from exc


def _check_png_header(data: bytes) -> None:
    """Refuse by the IHDR alone: the size is checked before a single pixel is allocated."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise InvalidImage("the PNG file is truncated or corrupt (no IHDR chunk)")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    _check_size(width, height)
    if bit_depth == 16 and color_type in (2, 4, 6):
        raise InvalidImage(f"16-bit PNG with {({2: 3, 4: 2, 6: 4})[color_type]} channels is not supported (grey only)")


def _decode_pillow(data: bytes, fmt: str) -> DecodedImage:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        with PILImage.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            _check_size(width, height)
            mode = img.mode
            img.load()  # the full decode: truncated or corrupt data fails here
            if mode in ("I;16", "I;16B", "I;16L"):
                pixels = np.asarray(img, dtype=np.uint16).copy()
                bit_depth, channels = 16, 1
            elif mode in ("I", "F", "I;16S", "I;32"):
                raise InvalidImage(f"{fmt} pixel mode {mode} is not supported (8- or 16-bit grey expected)")
            else:
                channels = len(img.getbands())
                grey = img if mode == "L" else img.convert("L")  # ITU-R 601-2 luma for RGB(A), palettes, ...
                pixels = np.asarray(grey, dtype=np.uint8).copy()
                bit_depth = 8
    if pixels.shape != (height, width):
        raise InvalidImage(f"the {fmt} file decoded to an unexpected shape {pixels.shape}")
    return DecodedImage(fmt, width, height, str(pixels.dtype), bit_depth, channels, pixels)


def _frame_pages(tif: tifffile.TiffFile, limit: int) -> list:
    """The pages that are frames, in file order (reduced-resolution thumbnails and transparency masks are not);
    stops reading IFDs once there are more than `limit`."""
    frames = []
    for page in tif.pages:
        if isinstance(page, tifffile.TiffFrame):
            page = page.aspage()
        if int(page.subfiletype) & 0b101:  # FILETYPE_REDUCEDIMAGE | FILETYPE_MASK
            continue
        frames.append(page)
        if len(frames) > limit:
            break
    return frames


def tiff_pages(data: bytes) -> list[bytes]:
    """A multi-page TIFF as one single-page TIFF per frame, in file order; any other file as `[data]`.

    A stored original is always one frame, so pixels, hashes and exports never need a page index: each page is
    re-encoded losslessly (Deflate, same samples and photometric) and validated on its own by `decode_image` later.
    More than IMAGE_MAX_PAGES frames is a 413, a page too large or corrupt refuses the file, naming the page."""
    if detect_format(data) != "TIFF":
        return [data]
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            frames = _frame_pages(tif, settings.IMAGE_MAX_PAGES)
            if len(frames) <= 1:
                return [data]
            if len(frames) > settings.IMAGE_MAX_PAGES:
                raise InvalidImage(
                    f"the TIFF has {len(tif.pages)} pages; the limit is {settings.IMAGE_MAX_PAGES} pages a file",
                    extra={"max_pages": settings.IMAGE_MAX_PAGES},
                    status_code=413,
                )
            return [_page_tiff(page, number) for number, page in enumerate(frames, start=1)]
    except (InvalidImage, MemoryError):
        raise
    except Exception as exc:
        raise InvalidImage(f"the TIFF file is truncated or corrupt ({type(exc).__name__}: {exc})"[:300]) from exc


def _page_tiff(page: tifffile.TiffPage, number: int) -> bytes:
    try:
        _check_size(int(page.imagewidth), int(page.imagelength))
    except InvalidImage as exc:
        raise InvalidImage(f"page {number}: {exc.message}", extra=exc.extra, status_code=exc.status_code) from exc
    array = page.asarray()
    photometric = tifffile.PHOTOMETRIC(page.photometric)
    options: dict = {"compression": "zlib", "metadata": None}
    channels = int(page.samplesperpixel)
    if channels > 1 and array.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
        array = np.moveaxis(array, 0, -1)  # planar (separate) samples -> interleaved
    if channels > 1:
        options.update(photometric="rgb", planarconfig="contig", extrasamples=page.extrasamples or None)
    elif photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
        options.update(photometric="palette", colormap=page.colormap)
    elif photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        options.update(photometric="miniswhite")
    else:
        options.update(photometric="minisblack")
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def _decode_tiff(data: bytes) -> DecodedImage:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        frames = _frame_pages(tif, 1)
        if len(frames) != 1:
            pages = len(tif.pages)
            raise InvalidImage(
                f"a multi-page TIFF ({pages} pages) is one image per page: upload it as images (each page becomes a "
                "frame), not as a single image",
                extra={"reason": "multi_page", "pages": pages},
            )
        page = frames[0]
        height, width = int(page.imagelength), int(page.imagewidth)
        _check_size(width, height)
        dtype, channels = np.dtype(page.dtype) if page.dtype is not None else None, int(page.samplesperpixel)
        if dtype is None or dtype.kind == "f":
            raise InvalidImage("float TIFF is not supported (8- or 16-bit integer grey expected)")
        if dtype not in (np.uint8, np.uint16) or page.bitspersample not in (8, 16):
            raise InvalidImage(
                f"TIFF of {dtype} ({page.bitspersample} bits) is not supported (uint8 or uint16 expected)"
            )
        if dtype == np.uint16 and channels != 1:
            raise InvalidImage(f"16-bit TIFF with {channels} channels is not supported (16-bit must be grey)")
        if channels not in (1, 3, 4):
            raise InvalidImage(f"TIFF with {channels} channels is not supported")
        array = page.asarray()
        if channels > 1 and array.ndim == 3 and array.shape[0] == channels and array.shape[1:] == (height, width):
            array = np.moveaxis(array, 0, -1)  # planar (separate) samples -> interleaved
    if array.shape[:2] != (height, width):
        raise InvalidImage(f"the TIFF decoded to an unexpected shape {array.shape}")
    if channels == 1:
        pixels = np.ascontiguousarray(array.reshape(height, width))
    else:
        rgb = PILImage.fromarray(np.ascontiguousarray(array[..., :3]))
        pixels = np.asarray(rgb.convert("L"), dtype=np.uint8).copy()  # same luma as the Pillow formats
    return DecodedImage("TIFF", width, height, str(pixels.dtype), dtype.itemsize * 8, channels, pixels)


def read_original(image) -> bytes:
    """The original bytes of an Image row, exactly as uploaded."""
    with default_storage.open(image.file.name, "rb") as handle:
        return handle.read()


def read_pixels(image) -> np.ndarray:
    """(H, W) uint8 or uint16 luminance of an Image row, at full bit depth."""
    return decode_image(read_original(image)).pixels


class StorageFull(ApplicationError):
    """The media volume has no room left (507 Insufficient Storage): nothing was stored, the request can be retried
    once an operator frees space."""

    def __init__(self) -> None:
        super().__init__(
            "The media storage is full: the file was not stored. Ask an administrator to free space, then retry.",
            extra={"reason": "storage_full"},
            status_code=507,
        )


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def save_bytes(path: str, data: bytes) -> tuple[str, bool]:
    """Save under `path`; returns (stored name, created). Content-addressed: an identical file there is reused.

    A failed write removes what it wrote, so no partial file is ever left under a content hash.
    """
    if default_storage.exists(path):
        with default_storage.open(path, "rb") as handle:
            if handle.read() == data:
                return path, False
        default_storage.delete(path)  # a leftover that does not match its hash: replace it
    name = path
    try:
        name = default_storage.save(path, ContentFile(data))
    except BaseException as exc:
        delete_file(name)
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise StorageFull() from exc
        raise
    return name, True


def delete_file(path: str) -> None:
    if path and default_storage.exists(path):
        default_storage.delete(path)


# --- Masks --------------------------------------------------------------------------------------
def mask_encode(raster: np.ndarray) -> tuple[str, int, list[int]]:
    """Bool (H, W) -> (COCO compressed RLE counts, area, bbox [x, y, w, h])."""
    if raster.ndim != 2:
        raise ValueError(f"a mask raster must be (H, W), got shape {raster.shape}")
    rle = coco_mask.encode(np.asfortranarray(raster.astype(np.uint8)))
    area = int(coco_mask.area(rle))
    bbox = [int(v) for v in coco_mask.toBbox(rle)]
    return rle["counts"].decode("ascii"), area, bbox


_RLE_MAX_NUMBER_CHARS = 13  # 65 bits: more than any run of an image this app accepts


def rle_counts_parse(counts: str, max_total: int | None = None) -> list[int]:
    """Run lengths of COCO compressed RLE counts (pure Python; validates before pycocotools sees the string).

    With `max_total` (the mask's pixel count) parsing stops as soon as the runs cannot fit it: more runs than pixels
    (+1 for a leading empty run) or more pixels than that, so a long hostile string costs time and memory
    bounded by the image, not by the string."""
    runs: list[int] = []
    pos, total = 0, 0
    while pos < len(counts):
        value, shift, more, start = 0, 0, True, pos
        while more:
            if pos >= len(counts):
                raise ValueError("RLE counts end in the middle of a number")
            if pos - start >= _RLE_MAX_NUMBER_CHARS:
                raise ValueError("RLE counts hold a number too large for any image")
            code = ord(counts[pos]) - 48
            if not 0 <= code < 64:
                raise ValueError(f"RLE counts hold an invalid character {counts[pos]!r}")
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            pos += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise ValueError("RLE counts hold a negative run")
        runs.append(value)
        total += value
        if max_total is not None and (total > max_total or len(runs) > max_total + 1):
            raise ValueError(f"the RLE covers more than the mask's {max_total} pixels")
    return runs


def mask_decode(rle: str, height: int, width: int) -> np.ndarray:
    """COCO compressed RLE counts -> bool (H, W); ValueError when the runs do not cover exactly H x W pixels.

    A size over the image limits is refused before anything is allocated (callers pass an image's size, but a
    codec must not trust them)."""
    if height < 0 or width < 0 or height * width > settings.IMAGE_MAX_PIXELS:
        raise ValueError(f"a {height}x{width} mask is over the limit of {settings.IMAGE_MAX_PIXELS} pixels")
    runs = rle_counts_parse(rle, max_total=height * width)
    total = sum(runs)
    if total != height * width:
        raise ValueError(f"the RLE covers {total} pixels, the image {height}x{width} has {height * width}")
    # Runs alternate background/mask starting with background, in column-major (Fortran) order as COCO.
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    return flat.reshape((width, height)).T.copy()


def mask_png_encode(raster: np.ndarray) -> bytes:
    """Bool (H, W) -> 8-bit grey PNG, 0 background and 255 mask."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.where(raster, 255, 0).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png_decode(data: bytes, height: int, width: int) -> np.ndarray:
    """A mask PNG -> bool (H, W): non-zero grey (or non-zero alpha when there is one) is the mask."""
    if not data.startswith(_PNG_MAGIC) or len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("the mask is not a PNG")
    png_width, png_height = struct.unpack(">II", data[16:24])
    if (png_height, png_width) != (height, width):
        raise ValueError(f"the mask is {png_width}x{png_height}, the image is {width}x{height}")
    try:
        with PILImage.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            if "A" in img.getbands():
                return np.asarray(img.getchannel("A")) > 0
            return np.asarray(img.convert("L") if img.mode not in ("L", "I;16") else img) > 0
    except (OSError, ValueError, SyntaxError, zlib.error) as exc:
        raise ValueError(f"the mask PNG is truncated or corrupt ({exc})") from exc


def pixels_png_encode(pixels: np.ndarray) -> bytes:
    """(H, W) uint8 or uint16 -> an 8- or 16-bit grey PNG with the exact values."""
    buffer = io.BytesIO()
    native = pixels.astype(pixels.dtype.newbyteorder("="), copy=False)
    PILImage.fromarray(np.ascontiguousarray(native)).save(buffer, format="PNG")  # uint16 -> I;16, uint8 -> L
    return buffer.getvalue()
