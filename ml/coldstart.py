"""Training-free point-to-mask cold start: local-contrast growing (LCG) united with GrabCut."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

# A dark ("dip") target is chosen only when it beats the bright reading by this factor, so that
# SIRST-like bright targets, whose clicks sit on noise, never flip to the dark side by chance.
_DARK_MARGIN = 1.5
_POLARITY_HALF = 16
_GC_PROBABLE_FG_RADIUS = 3
_GC_BORDER = 2
_GC_MIN_SIDE = 8


@dataclass(frozen=True)
class ColdStartParams:
    """Knobs of the generator; defaults were chosen on SIRST v1 train only (bench/reports/coldstart.md).

    ``separate``, ``edge_free`` and the size rule (``size_alpha_factor``) are additions to cold-start.md §2:
    the first keeps neighbouring instances from touching (their union would read as one target), the
    second stops a blob from leaking along clutter to an image border far from its peak (a window clipped
    by the image has no edge there, so the leak was never detected), the third redoes small and large
    blobs at a lower alpha (``_size_rule``). ``use_grabcut`` defaults to off: on train, LCG alone
    ties LCG ∪ GrabCut and is about 5x faster; GrabCut stays available per project or per target.
    """

    alpha: float = 0.35
    snap: int = 2
    scales: tuple[int, ...] = (8, 16, 32)
    alpha_step: float = 0.1
    alpha_max: float = 0.9
    ring: int = 2
    fallback_radius: int = 1
    gc_half: int = 16
    gc_iters: int = 5
    gc_fg_radius: int = 1
    use_grabcut: bool = False
    polarity: str = "auto"  # "bright" | "dark" | "auto"
    gc_merge: str = "union"  # "union" | "intersection" (GrabCut trims a loose LCG blob)
    separate: bool = True  # keep a 1-px gap between instances so their union keeps one component each
    edge_free: int | None = 8  # an image edge counts as a leak unless the peak is within this many px (None: never)
    # Size rule: a blob below small_area px or at least large_area px at alpha is redone at alpha * factor
    # (None: off). Small targets are annotated wider than their iso-contour, large ones (ships, planes) are
    # hot spots on a dimmer body; chosen by cross-validation on train (bench/reports/coldstart.md).
    size_alpha_factor: float | None = 0.7
    small_area: int = 15
    large_area: int = 100
    small_growth: float = 1.5  # a small blob redone at the lower alpha may grow at most this much (leak guard)


@dataclass
class ColdStartResult:
    """One instance mask per point (input order) and whether LCG fell back for that point."""

    masks: list[np.ndarray]
    fallback: list[bool]
    shape: tuple[int, int] = field(default=(0, 0), repr=False)

    def union(self) -> np.ndarray:
        """All instances as one bool (H, W) mask."""
        out = np.zeros(self.shape, dtype=bool)
        for m in self.masks:
            out |= m
        return out


@dataclass
class _Crop:
    """A bool mask living on the image window [y0:y0+h, x0:x0+w]."""

    y0: int
    x0: int
    mask: np.ndarray

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.mask.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


def point_prompt_masks(
    image: np.ndarray,
    points: np.ndarray,
    params: ColdStartParams | None = None,
    alphas: Sequence[float | None] | None = None,
) -> ColdStartResult:
    """Turn one click per target into one instance mask per click.

    Args:
        image: (H, W) of any numeric dtype, or (H, W, 3) RGB (ITU-R 601 luma is used).
        points: (N, 2) float (x, y) pixel coordinates; rounded to the nearest pixel.
        params: generator settings; defaults to ``ColdStartParams()``.
        alphas: optional per-point alpha ("tightness"); ``None`` entries use ``params.alpha``.

    Returns:
        ColdStartResult whose masks are pairwise disjoint, each one 8-connected component holding
        its point's pixel (a later point on the same pixel as an earlier one gets an empty mask).
    """
    return _run(image, points, params or ColdStartParams(), alphas, use_lcg=True)


def grabcut_masks(image: np.ndarray, points: np.ndarray, params: ColdStartParams | None = None) -> ColdStartResult:
    """GrabCut-only variant of ``point_prompt_masks`` (same snap and merge), kept as a second opinion."""
    params = params or ColdStartParams()
    return _run(image, points, params, None, use_lcg=False)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Float64 grey (H, W) from grey or RGB input, without clipping or rescaling."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr.astype(np.float64)
        return 0.299 * arr[:, :, 0] + 0.587 * arr[:, :, 1] + 0.114 * arr[:, :, 2]
    if arr.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {arr.shape}")
    return arr.astype(np.float64)


def _run(
    image: np.ndarray,
    points: np.ndarray,
    params: ColdStartParams,
    alphas: Sequence[float | None] | None,
    use_lcg: bool,
) -> ColdStartResult:
    if params.polarity not in ("bright", "dark", "auto"):
        raise ValueError(f"polarity must be 'bright', 'dark' or 'auto', got {params.polarity!r}")
    if params.gc_merge not in ("union", "intersection"):
        raise ValueError(f"gc_merge must be 'union' or 'intersection', got {params.gc_merge!r}")
    gray = to_gray(image)
    h, w = gray.shape
    clicks = _validate_points(points, h, w)
    n = len(clicks)
    if alphas is not None and len(alphas) != n:
        raise ValueError(f"alphas has {len(alphas)} entries for {n} points")
    if n == 0:
        return ColdStartResult(masks=[], fallback=[], shape=(h, w))

    crops: list[_Crop] = []
    fallback: list[bool] = []
    for k in range(n):
        alpha = params.alpha if alphas is None or alphas[k] is None else float(alphas[k])
        signed = gray if _polarity(gray, clicks[k], params) > 0 else -gray
        peak = _snap(signed, clicks[k], params.snap)
        parts: list[_Crop] = []
        fell_back = False
        if use_lcg:
            lcg, fell_back = _lcg(signed, clicks, k, peak, alpha, params)
            parts.append(lcg)
        if (params.use_grabcut or not use_lcg) and not fell_back:
            gc = _grabcut(signed, peak, params)
            if gc is not None and use_lcg and params.gc_merge == "intersection":
                parts = [_intersect_crops(parts[0], gc)]
            elif gc is not None:
                parts.append(gc)
        parts.append(_segment(clicks[k], peak if not fell_back else clicks[k]))
        crops.append(_union_crops(parts))
        fallback.append(fell_back)
    masks = _merge(crops, clicks, (h, w), params.separate)
    return ColdStartResult(masks=masks, fallback=fallback, shape=(h, w))


def _validate_points(points: np.ndarray, h: int, w: int) -> np.ndarray:
    """Rounded integer (row, col) clicks; raises naming the offending point."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be (N, 2) in (x, y), got shape {pts.shape}")
    out = np.empty((len(pts), 2), dtype=np.int64)
    for i, (x, y) in enumerate(pts):
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point {i} ({x}, {y}) is not finite")
        col, row = int(np.rint(x)), int(np.rint(y))
        if not (0 <= col < w and 0 <= row < h):
            raise ValueError(f"point {i} ({x}, {y}) is outside the {w}x{h} image")
        out[i] = (row, col)
    return out


def _window(center: np.ndarray, half: int, h: int, w: int) -> tuple[int, int, int, int]:
    r, c = int(center[0]), int(center[1])
    return max(r - half, 0), min(r + half + 1, h), max(c - half, 0), min(c + half + 1, w)


def _ring_values(win: np.ndarray, ring: int) -> np.ndarray:
    inner = np.ones(win.shape, dtype=bool)
    inner[:ring, :] = inner[-ring:, :] = inner[:, :ring] = inner[:, -ring:] = False
    return win[~inner]


def _polarity(gray: np.ndarray, click: np.ndarray, params: ColdStartParams) -> int:
    """+1 to segment bright targets, -1 for dark ones; "auto" compares both extremes near the click."""
    if params.polarity != "auto":
        return 1 if params.polarity == "bright" else -1
    y0, y1, x0, x1 = _window(click, _POLARITY_HALF, *gray.shape)
    med = float(np.median(_ring_values(gray[y0:y1, x0:x1], params.ring)))
    sy0, sy1, sx0, sx1 = _window(click, params.snap, *gray.shape)
    near = gray[sy0:sy1, sx0:sx1]
    bright, dark = float(near.max()) - med, med - float(near.min())
    # The brief's rule is "clicked pixel darker than the ring median"; using the extremes within the
    # snap radius keeps a coarse click that lands on background from flipping the polarity.
    return -1 if gray[click[0], click[1]] < med and dark > _DARK_MARGIN * max(bright, 0.0) else 1


def _snap(signed: np.ndarray, click: np.ndarray, snap: int) -> np.ndarray:
    """Brightest pixel within +-snap; ties go to the pixel nearest the click, so a peak click stays put."""
    y0, y1, x0, x1 = _window(click, snap, *signed.shape)
    win = signed[y0:y1, x0:x1]
    yy, xx = np.nonzero(win == win.max())
    d = (yy + y0 - click[0]) ** 2 + (xx + x0 - click[1]) ** 2
    i = int(np.argmin(d))
    return np.array([yy[i] + y0, xx[i] + x0], dtype=np.int64)


def _component_at(mask: np.ndarray, r: int, c: int) -> np.ndarray:
    """The 8-connected component of ``mask`` holding (r, c); empty if that pixel is off."""
    if not mask[r, c]:
        return np.zeros_like(mask)
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return labels == labels[r, c]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return mask | (flood[1:-1, 1:-1] == 0)


def _voronoi_cell(clicks: np.ndarray, k: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Window pixels at least as near to click k as to any other click (crop-local, no full maps)."""
    yy = np.arange(y0, y1)[:, None]
    xx = np.arange(x0, x1)[None, :]
    own = (yy - clicks[k, 0]) ** 2 + (xx - clicks[k, 1]) ** 2
    cell = np.ones(own.shape, dtype=bool)
    # Only clicks closer than twice the window's reach can own any of its pixels.
    reach = 2 * max(y1 - y0, x1 - x0) + 2
    near = np.nonzero(np.abs(clicks - clicks[k]).max(axis=1) <= reach)[0]
    for j in near:
        if j != k:
            cell &= own <= (yy - clicks[j, 0]) ** 2 + (xx - clicks[j, 1]) ** 2
    return cell


def _lcg(
    signed: np.ndarray, clicks: np.ndarray, k: int, peak: np.ndarray, alpha: float, params: ColdStartParams
) -> tuple[_Crop, bool]:
    """Local-contrast growing over growing windows (spec §2 steps 2-4); returns (crop, fell_back)."""
    h, w = signed.shape
    by0, by1, bx0, bx1 = _window(peak, max(params.scales), h, w)
    cell_big = _voronoi_cell(clicks, k, by0, by1, bx0, bx1)
    pr, pc = int(peak[0]), int(peak[1])
    for i, half in enumerate(params.scales):
        y0, y1, x0, x1 = _window(peak, half, h, w)
        win = signed[y0:y1, x0:x1]
        b = float(np.median(_ring_values(win, params.ring)))
        vy0, vy1, vx0, vx1 = _window(peak, 1, h, w)
        v = float(signed[vy0:vy1, vx0:vx1].max())
        # No noise-level (SNR) gate here: measured on SIRST, gating at 2-4 sigma of the ring cost up to
        # 4 IoU points (faint real targets), so only a click without any contrast falls back.
        if v <= b:
            return _fallback_crop(signed, clicks[k], b, v, params), True
        cell = cell_big[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]
        last = i == len(params.scales) - 1
        a = alpha
        while True:
            blob = _blob(win, cell, (pr - y0, pc - x0), b + a * (v - b))
            leaks = _edge_leaks(peak, h, w, params.edge_free)
            if not _touches_inner_edge(blob, y0, y1, x0, x1, h, w, leaks):
                blob = _size_rule(
                    blob, win, cell, (pr - y0, pc - x0), b, v, alpha, params, (y0, y1, x0, x1, h, w, leaks)
                )
                return _Crop(y0, x0, _fill_holes(blob)), False
            a += params.alpha_step
            if not last or a > params.alpha_max + 1e-9:
                break
    return _fallback_crop(signed, clicks[k], b, v, params), True


def _blob(win: np.ndarray, cell: np.ndarray, at: tuple[int, int], threshold: float) -> np.ndarray:
    """The 8-connected component of window pixels >= threshold (in the Voronoi cell) holding ``at``."""
    cand = (win >= threshold) & cell
    cand[at] = True
    return _component_at(cand, *at)


def _size_rule(
    blob: np.ndarray,
    win: np.ndarray,
    cell: np.ndarray,
    at: tuple[int, int],
    b: float,
    v: float,
    alpha: float,
    params: ColdStartParams,
    geom: tuple,
) -> np.ndarray:
    """Redo a small or large blob at ``alpha * size_alpha_factor``; keep the first when the redo leaks.

    Why: on SIRST train the masks of targets under ~15 px are drawn wider than the b + alpha (v - b)
    iso-contour, and big extended targets are a hot spot on a dimmer body that a peak-relative threshold
    cuts off; medium targets fit alpha. A redo that reaches the window edge, or a small blob that grows
    by more than ``small_growth``, is a leak into clutter and is refused.
    """
    if params.size_alpha_factor is None:
        return blob
    area = int(np.count_nonzero(blob))
    small, large = area < params.small_area, area >= params.large_area
    if not (small or large):
        return blob
    redo = _blob(win, cell, at, b + alpha * params.size_alpha_factor * (v - b))
    if _touches_inner_edge(redo, *geom):
        return blob
    if small and np.count_nonzero(redo) > params.small_growth * area:
        return blob
    return redo


def _edge_leaks(peak: np.ndarray, h: int, w: int, edge_free: int | None) -> tuple[bool, bool, bool, bool]:
    """Per image edge (top, bottom, left, right): does reaching it count as leaking out of the window?

    A target cut by the image border is legitimate only when its peak is near that border; a blob that
    runs from a peak far inside the image to the border is a leak along background clutter.
    """
    if edge_free is None:
        return (False, False, False, False)
    r, c = int(peak[0]), int(peak[1])
    return (r > edge_free, h - 1 - r > edge_free, c > edge_free, w - 1 - c > edge_free)


def _touches_inner_edge(
    blob: np.ndarray,
    y0: int,
    y1: int,
    x0: int,
    x1: int,
    h: int,
    w: int,
    image_edge_leaks: tuple[bool, bool, bool, bool] = (False, False, False, False),
) -> bool:
    """True when the blob reaches a window edge that is not an image edge (or an image edge that leaks)."""
    top, bottom, left, right = image_edge_leaks
    return bool(
        ((y0 > 0 or top) and blob[0].any())
        or ((y1 < h or bottom) and blob[-1].any())
        or ((x0 > 0 or left) and blob[:, 0].any())
        or ((x1 < w or right) and blob[:, -1].any())
    )


def _fallback_crop(signed: np.ndarray, click: np.ndarray, b: float, v: float, params: ColdStartParams) -> _Crop:
    """No usable contrast: a few pixels around the click itself, never more than the (2r+1)^2 box."""
    y0, y1, x0, x1 = _window(click, params.fallback_radius, *signed.shape)
    mask = signed[y0:y1, x0:x1] >= b + 0.5 * (v - b) if v > b else np.zeros((y1 - y0, x1 - x0), dtype=bool)
    mask[click[0] - y0, click[1] - x0] = True
    return _Crop(y0, x0, _component_at(mask, click[0] - y0, click[1] - x0))


def _grabcut(signed: np.ndarray, peak: np.ndarray, params: ColdStartParams) -> _Crop | None:
    """GrabCut on a min-max scaled window around the peak (spec §2 step 5); None when degenerate."""
    h, w = signed.shape
    y0, y1, x0, x1 = _window(peak, params.gc_half, h, w)
    win = signed[y0:y1, x0:x1]
    lo, hi = float(win.min()), float(win.max())
    if hi <= lo or min(win.shape) < _GC_MIN_SIDE:
        return None
    img8 = np.rint((win - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    pr, pc = int(peak[0]) - y0, int(peak[1]) - x0
    init = np.full(win.shape, cv2.GC_PR_BGD, dtype=np.uint8)
    _mark_border(init, y0 > 0, y1 < h, x0 > 0, x1 < w)
    rp = _GC_PROBABLE_FG_RADIUS
    init[max(pr - rp, 0) : pr + rp + 1, max(pc - rp, 0) : pc + rp + 1] = cv2.GC_PR_FGD
    rf = params.gc_fg_radius
    init[max(pr - rf, 0) : pr + rf + 1, max(pc - rf, 0) : pc + rf + 1] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's GMM init is random; a fixed seed makes reruns byte-identical.
    try:
        cv2.grabCut(cv2.merge([img8, img8, img8]), init, None, bgd, fgd, params.gc_iters, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None  # too few samples for the GMMs; LCG alone still answers.
    fg = (init == cv2.GC_FGD) | (init == cv2.GC_PR_FGD)
    return _Crop(y0, x0, _component_at(fg, pr, pc))


def _mark_border(init: np.ndarray, top: bool, bottom: bool, left: bool, right: bool) -> None:
    """Definite background on window edges inside the image; a target on the image edge stays free."""
    if not (top or bottom or left or right):
        top = bottom = left = right = True  # the window is the whole image: GrabCut still needs a background
    g = _GC_BORDER
    if top:
        init[:g, :] = cv2.GC_BGD
    if bottom:
        init[-g:, :] = cv2.GC_BGD
    if left:
        init[:, :g] = cv2.GC_BGD
    if right:
        init[:, -g:] = cv2.GC_BGD


def _segment(click: np.ndarray, peak: np.ndarray) -> _Crop:
    """Pixels on the straight line click -> peak, so a snapped blob stays connected to its click."""
    y0, x0 = int(min(click[0], peak[0])), int(min(click[1], peak[1]))
    y1, x1 = int(max(click[0], peak[0])), int(max(click[1], peak[1]))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=bool)
    steps = int(max(abs(peak[0] - click[0]), abs(peak[1] - click[1])))
    t = np.linspace(0.0, 1.0, steps + 1)
    rows = np.rint(click[0] + t * (peak[0] - click[0])).astype(int) - y0
    cols = np.rint(click[1] + t * (peak[1] - click[1])).astype(int) - x0
    mask[rows, cols] = True
    return _Crop(y0, x0, mask)


def _union_crops(parts: list[_Crop]) -> _Crop:
    y0 = min(p.y0 for p in parts)
    x0 = min(p.x0 for p in parts)
    y1 = max(p.y0 + p.mask.shape[0] for p in parts)
    x1 = max(p.x0 + p.mask.shape[1] for p in parts)
    out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for p in parts:
        out[p.y0 - y0 : p.y0 - y0 + p.mask.shape[0], p.x0 - x0 : p.x0 - x0 + p.mask.shape[1]] |= p.mask
    return _Crop(y0, x0, out)


def _intersect_crops(a: _Crop, b: _Crop) -> _Crop:
    """a ∩ b on a's window (a's pixels that b also claims)."""
    out = np.zeros_like(a.mask)
    ya0, xa0 = max(a.y0, b.y0), max(a.x0, b.x0)
    ya1 = min(a.y0 + a.mask.shape[0], b.y0 + b.mask.shape[0])
    xa1 = min(a.x0 + a.mask.shape[1], b.x0 + b.mask.shape[1])
    if ya1 > ya0 and xa1 > xa0:
        sa = np.s_[ya0 - a.y0 : ya1 - a.y0, xa0 - a.x0 : xa1 - a.x0]
        out[sa] = a.mask[sa] & b.mask[ya0 - b.y0 : ya1 - b.y0, xa0 - b.x0 : xa1 - b.x0]
    return _Crop(a.y0, a.x0, out)


def _merge(crops: list[_Crop], clicks: np.ndarray, shape: tuple[int, int], separate: bool = False) -> list[np.ndarray]:
    """Contested pixels go to the nearest claiming click; each instance keeps its click's component.

    With ``separate``, a pixel that 8-touches another instance is dropped when the other side's pixel
    is nearer to its own click (ties: the earlier click wins), so the union shows one component per
    click; click pixels are never dropped (two clicks on adjacent pixels can still touch).
    """
    owner = np.full(shape, -1, dtype=np.int32)
    best = np.full(shape, np.inf, dtype=np.float64)
    for k, crop in enumerate(crops):
        sy, sx = crop.slices
        yy = np.arange(sy.start, sy.stop)[:, None]
        xx = np.arange(sx.start, sx.stop)[None, :]
        d = ((yy - clicks[k, 0]) ** 2 + (xx - clicks[k, 1]) ** 2).astype(np.float64)
        take = crop.mask & (d < best[sy, sx])  # strict: on a tie the earlier click keeps the pixel
        owner[sy, sx][take] = k
        best[sy, sx][take] = d[take]
    if separate and len(crops) > 1:
        _separate(owner, best, crops, clicks)
    masks = []
    for k, crop in enumerate(crops):
        sy, sx = crop.slices
        local = owner[sy, sx] == k
        r, c = int(clicks[k, 0]) - sy.start, int(clicks[k, 1]) - sx.start
        full = np.zeros(shape, dtype=bool)
        full[sy, sx] = _component_at(local, r, c)
        masks.append(full)
    return masks


def _separate(owner: np.ndarray, best: np.ndarray, crops: list[_Crop], clicks: np.ndarray) -> None:
    """Drop, in place, each owned pixel that 8-touches a stronger pixel of another instance."""
    h, w = owner.shape
    drops = []
    for k, crop in enumerate(crops):
        sy, sx = crop.slices
        y0, y1, x0, x1 = max(sy.start - 1, 0), min(sy.stop + 1, h), max(sx.start - 1, 0), min(sx.stop + 1, w)
        own, dist = owner[y0:y1, x0:x1], best[y0:y1, x0:x1]
        mine = own == k
        if not ((own >= 0) & ~mine).any():
            continue  # no other instance within one pixel of this crop
        wh, ww = mine.shape
        op = np.full((wh + 2, ww + 2), -1, dtype=own.dtype)
        op[1:-1, 1:-1] = own
        dp = np.full((wh + 2, ww + 2), np.inf)
        dp[1:-1, 1:-1] = dist
        drop = np.zeros_like(mine)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                on = op[1 + dy : 1 + dy + wh, 1 + dx : 1 + dx + ww]
                dn = dp[1 + dy : 1 + dy + wh, 1 + dx : 1 + dx + ww]
                other = (on >= 0) & (on != k)
                drop |= other & ((dn < dist) | ((dn == dist) & (on < k)))
        drop &= mine
        drop[int(clicks[k, 0]) - y0, int(clicks[k, 1]) - x0] = False
        if drop.any():
            drops.append((y0, x0, drop))
    for y0, x0, drop in drops:
        owner[y0 : y0 + drop.shape[0], x0 : x0 + drop.shape[1]][drop] = -1
