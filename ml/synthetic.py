"""Synthetic IR-like frames with small bright targets (tests, demos) and implanting into real backgrounds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ml.data import Sample
from ml.inputs import robust_range
from ml.points import centroid_points, label_components


def _background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    noise = rng.normal(0.0, 1.0, (h, w))
    clutter = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(2.0, min(h, w) / 12))
    clutter = clutter / (clutter.std() + 1e-9)
    ramp = np.linspace(0.0, 1.0, w)[None, :] * rng.uniform(-1, 1)
    return 0.35 + 0.06 * clutter + 0.05 * ramp + 0.01 * rng.normal(0.0, 1.0, (h, w))


def _blob(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, sy: float, sx: float) -> np.ndarray:
    """Elliptical Gaussian with peak 1 at (cy, cx) on the grid (yy, xx)."""
    return np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))


def implant_targets(
    background: np.ndarray,
    rng: np.random.Generator,
    n_targets: int,
    min_gap: int = 6,
    contrast: tuple[float, float] = (0.25, 0.6),
) -> tuple[np.ndarray, np.ndarray]:
    """Add n small elliptical Gaussian targets to a float background in [0, 1].

    Returns (image float64 (H, W), mask bool (H, W)); the mask is where a target exceeds half its
    peak. Targets keep `min_gap` px between their masks, so each is its own 8-connected component.
    """
    img = np.array(background, dtype=np.float64, copy=True)
    h, w = img.shape
    mask = np.zeros((h, w), dtype=bool)
    yy, xx = np.mgrid[0:h, 0:w]
    placed = 0
    for _ in range(50 * max(1, n_targets)):
        if placed == n_targets:
            break
        sy, sx = rng.uniform(0.8, 2.5, size=2)
        cy, cx = rng.uniform(4, h - 5), rng.uniform(4, w - 5)
        blob = _blob(yy, xx, cy, cx, sy, sx)
        region = blob > 0.5
        grown = cv2.dilate(region.astype(np.uint8), np.ones((2 * min_gap + 1,) * 2, np.uint8)) > 0
        if not region.any() or (grown & mask).any():
            continue
        img += rng.uniform(*contrast) * blob
        mask |= region
        placed += 1
    return np.clip(img, 0.0, 1.0), mask


def implant_into_frame(
    raw: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    window: tuple[int, int, int],
    n_targets: int,
    span: float | None = None,
    min_gap: int = 4,
    sigma: tuple[float, float] = (0.7, 3.0),
    contrast: tuple[float, float] = (0.08, 0.5),
    level: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Implant up to n small Gaussian targets into a real frame, inside `window` = (y0, x0, size).

    Why: SIRST train has 256 frames and ~300 targets; new targets on real clutter give the net more
    target/background pairs without new labels. Amplitudes are a share (`contrast`) of the frame's robust
    range `span` (q99.99 - q0.01, computed when not given), so dim and bright targets occur on any bit
    depth. The label is where the blob exceeds `level` of its peak: 0.3 sits where SIRST train's masks end
    (`python bench/mask_levels.py`: their inner boundary pixels are at a median 0.53 of the peak above the
    local background, the pixels just outside at 0.12). A target must stand 3 local sigmas above its patch
    and must not clip an integer frame; new targets keep `min_gap` px from every existing target, so none
    touches a label. Returns (frame of raw's dtype; bool mask with the new targets added).
    """
    raw_arr = np.asarray(raw)
    if raw_arr.ndim != 2:
        raise ValueError("implanting needs a single-channel frame")
    h, w = raw_arr.shape
    y0, x0, size = window
    ys, xs = slice(max(0, y0), min(h, y0 + size)), slice(max(0, x0), min(w, x0 + size))
    if ys.stop - ys.start < 9 or xs.stop - xs.start < 9:
        return raw_arr.copy(), mask.copy()
    out, new_mask = raw_arr.astype(np.float64), mask.copy()
    if span is None:
        lo, hi = robust_range(out)
        span = hi - lo
    span = max(span, 1.0)
    ceiling = float(np.iinfo(raw_arr.dtype).max) if raw_arr.dtype.kind in "iu" else np.inf
    kernel = np.ones((2 * min_gap + 1,) * 2, np.uint8)
    taken = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    placed = 0
    for _ in range(20 * max(1, n_targets)):
        if placed == n_targets:
            break
        sy, sx = rng.uniform(*sigma, size=2)
        cy, cx = rng.uniform(ys.start + 4, ys.stop - 5), rng.uniform(xs.start + 4, xs.stop - 5)
        r = int(np.ceil(4 * max(sy, sx)))
        by = slice(max(0, int(cy) - r), min(h, int(cy) + r + 1))
        bx = slice(max(0, int(cx) - r), min(w, int(cx) + r + 1))
        blob = _blob(*np.mgrid[by, bx], cy, cx, sy, sx)
        region = blob > level
        if not region.any() or taken[by, bx][region].any():
            continue
        patch = out[by, bx]
        # Visible, or it teaches the net to paint any prompt: at least 3 local sigmas, and no clipping.
        amp = max(rng.uniform(*contrast) * span, 3.0 * float(patch.std()))
        if patch.max() + amp > ceiling:
            continue
        out[by, bx] = patch + amp * blob
        new_mask[by, bx] |= region
        # Grow only the box (the dilation reaches min_gap px past it), not the whole frame.
        gy = slice(max(0, by.start - min_gap), min(h, by.stop + min_gap))
        gx = slice(max(0, bx.start - min_gap), min(w, bx.stop + min_gap))
        local = np.zeros((gy.stop - gy.start, gx.stop - gx.start), np.uint8)
        local[by.start - gy.start : by.stop - gy.start, bx.start - gx.start : bx.stop - gx.start] = region
        taken[gy, gx] |= cv2.dilate(local, kernel) > 0
        placed += 1
    if raw_arr.dtype.kind in "iu":
        return np.clip(np.rint(out), np.iinfo(raw_arr.dtype).min, ceiling).astype(raw_arr.dtype), new_mask
    return out.astype(raw_arr.dtype), new_mask


@dataclass
class _ClusterState:
    """The cluster being grown: the frame (float), each pixel's largest blob value and its owner."""

    orig: np.ndarray
    out: np.ndarray
    best: np.ndarray
    owner: np.ndarray
    boxes: list[tuple[slice, slice]] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    level: float = 0.3

    def labels(self, box: tuple[slice, slice]) -> np.ndarray:
        return np.where(self.best[box] > self.level, self.owner[box], 0)

    def valid(self, k: int) -> bool:
        """Instance k (1-based) keeps half its own region, in one 8-connected piece holding its floored centroid."""
        sub = self.labels(self.boxes[k - 1]) == k
        if sub.sum() < max(1, self.areas[k - 1] / 2):
            return False
        if cv2.connectedComponents(sub.astype(np.uint8), connectivity=8)[0] != 2:
            return False
        ys, xs = np.nonzero(sub)
        return bool(sub[int(np.floor(ys.mean())), int(np.floor(xs.mean()))])


def _cluster_centre(taken: np.ndarray, n_targets: int, rng: np.random.Generator) -> tuple[float, float]:
    """A random cluster centre with room around it (about the cluster's radius) away from `taken` and the border."""
    free = np.ascontiguousarray(~taken, dtype=np.uint8)
    free[[0, -1], :] = 0
    free[:, [0, -1]] = 0
    dist = cv2.distanceTransform(free, cv2.DIST_L2, 5)
    room = min(3.0 * np.sqrt(n_targets) + 3.0, 0.8 * float(dist.max()))
    ys, xs = np.nonzero(dist >= room) if room > 0 else np.nonzero(free)
    if len(ys) == 0:
        return float(rng.uniform(0, taken.shape[0])), float(rng.uniform(0, taken.shape[1]))
    j = int(rng.integers(len(ys)))
    return ys[j] + rng.uniform(-0.5, 0.5), xs[j] + rng.uniform(-0.5, 0.5)


def _cluster_shape(rng: np.random.Generator, sigma: tuple[float, float], elongated: float) -> tuple[float, float]:
    """(sy, sx): round-ish, or with probability `elongated` stretched 1.5-2.5x along one axis."""
    major = rng.uniform(*sigma)
    ratio = rng.uniform(1.5, 2.5) if rng.random() < elongated else rng.uniform(1.0, 1.25)
    minor = max(sigma[0], major / ratio)
    return (major, minor) if rng.random() < 0.5 else (minor, major)


def _semi_axis(s: float, level: float) -> float:
    """Half-width of the region where a Gaussian of sigma s exceeds `level` of its peak."""
    return s * float(np.sqrt(2.0 * np.log(1.0 / level)))


def implant_cluster(
    frame: np.ndarray,
    rng: np.random.Generator,
    n_targets: int,
    span: float | None = None,
    *,
    avoid: np.ndarray | None = None,
    min_gap: int = 4,
    sigma: tuple[float, float] = (0.6, 2.5),
    contrast: tuple[float, float] = (0.08, 0.5),
    max_gap: int = 3,
    elongated: float = 0.3,
    level: float = 0.3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Implant ONE dense cluster of `n_targets` small targets (a flock, a swarm) into a real frame.

    Why: SIRST has at most 7 targets per frame and they rarely touch, while real frames with 5+ touching
    targets score far lower; a cluster on real clutter is a stand-in for them. The cluster grows from a
    random centre: each new target is put next to a placed one, its region touching (or overlapping by
    about a pixel) or 1 to `max_gap` px apart (chessboard distance between regions <= max_gap + 1).
    Sizes: sigma drawn in `sigma`, a share `elongated` stretched 1.5-2.5x along one axis. Amplitudes as
    `implant_into_frame`: a share `contrast` of the robust range `span` (computed when not given), at
    least 3 sigmas of the frame's patch; on an integer frame an amplitude is scaled down so that no pixel
    reaches the dtype's maximum where it did not already (never clipped), and a target scaled below its
    visibility floor (3 patch sigmas, half the lowest contrast share) is re-drawn. Labels: a target covers
    the pixels where its blob exceeds `level` of its own peak; a pixel in several goes to the target
    whose normalised blob (peak 1) is largest there. A target whose placement leaves any instance empty,
    in several 8-connected pieces, under half its own region, or without its floored centroid, is
    re-drawn, as is one whose region leaves the frame or comes within `min_gap` px of `avoid`.

    Args:
        frame: (H, W) grey frame, any numeric dtype.
        rng: the only source of randomness (same rng state, same output).
        n_targets: targets to place (5-30 for the dense proxies); fewer only if the frame has no room.
        span: the frame's robust range (q99.99 - q0.01); computed when None.
        avoid: bool (H, W) mask of the frame's own targets, kept at least `min_gap` px away.

    Returns:
        (frame of `frame`'s dtype (H, W), labels int32 (H, W) with 0 = background and 1..K in placement
        order, points (K, 2) float (x, y) = floored centroid of each instance, inside it).
    """
    raw = np.asarray(frame)
    if raw.ndim != 2:
        raise ValueError(f"implanting needs a single-channel (H, W) frame, got shape {raw.shape}")
    if n_targets < 1:
        raise ValueError(f"n_targets must be at least 1, got {n_targets}")
    if avoid is not None and np.shape(avoid) != raw.shape:
        raise ValueError(f"avoid mask shape {np.shape(avoid)} differs from frame shape {raw.shape}")
    orig = raw.astype(np.float64)
    if span is None:
        lo, hi = robust_range(orig)
        span = hi - lo
    span = max(float(span), 1.0)
    ceiling = float(np.iinfo(raw.dtype).max) - 0.5 if raw.dtype.kind in "iu" else np.inf
    taken = np.zeros(raw.shape, dtype=bool) if avoid is None else np.asarray(avoid, dtype=bool)
    taken = cv2.dilate(taken.astype(np.uint8), np.ones((2 * min_gap + 1,) * 2, np.uint8)) > 0
    state = _ClusterState(orig, orig.copy(), np.zeros(raw.shape), np.zeros(raw.shape, np.int32), level=level)
    centres: list[tuple[float, float, float, float]] = []  # (cy, cx, sy, sx) per placed target
    middle = (0.0, 0.0)  # the cluster's centre, drawn with its first target (again while that one fails)
    for _ in range(60 * n_targets):
        if len(centres) == n_targets:
            break
        sy, sx = _cluster_shape(rng, sigma, elongated)
        if centres:
            cy, cx = _next_to_cluster(centres, middle, sy, sx, rng, level, max_gap)
        else:
            middle = _cluster_centre(taken, n_targets, rng)
            cy, cx = middle
        amp_share = rng.uniform(*contrast)
        if _try_place(state, taken, (cy, cx, sy, sx), amp_share * span, contrast[0] * span / 2, ceiling, max_gap):
            centres.append((cy, cx, sy, sx))
    labels = np.where(state.best > level, state.owner, 0).astype(np.int32)
    points = np.zeros((len(centres), 2), dtype=np.float64)
    for k in range(1, len(centres) + 1):
        ys, xs = np.nonzero(labels == k)
        points[k - 1] = (np.floor(xs.mean()), np.floor(ys.mean()))
    if raw.dtype.kind in "iu":  # amplitudes were scaled under the ceiling: this clip never bites
        out = np.clip(np.rint(state.out), np.iinfo(raw.dtype).min, np.iinfo(raw.dtype).max).astype(raw.dtype)
    else:
        out = state.out.astype(raw.dtype)
    return out, labels, points


# The dense proxies' cluster (bench/proxies.py `dense`, and the dense copies of a selection split): implant_cluster's
# arguments with 5-30 targets drawn per frame.
DENSE_FRAME = {"n_targets": (5, 30), "min_gap": 4, "sigma": (0.6, 2.5), "contrast": (0.08, 0.5), "max_gap": 3,
               "elongated": 0.3, "level": 0.3}  # fmt: skip


def dense_frame(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, int]:
    """The frame with one dense cluster (`DENSE_FRAME`) implanted away from its own targets: (frame, the
    cluster's bool instances in placement order, their (K, 2) float (x, y) points, the count drawn; K is
    smaller only where the frame had no room). The same rng state gives the same frame."""
    lo, hi = DENSE_FRAME["n_targets"]
    n = int(rng.integers(lo, hi + 1))
    kwargs = {k: v for k, v in DENSE_FRAME.items() if k != "n_targets"}
    frame, labels, points = implant_cluster(image, rng, n, avoid=mask, **kwargs)
    return frame, [labels == k for k in range(1, int(labels.max()) + 1)], points, n


def dense_copies(samples: list[Sample], seed: int) -> list[Sample]:
    """Each frame with one dense cluster added (its own rng from `seed` and its id, so a copy does not depend on
    the other frames): union mask, every target's point, each target's instance.

    Why: a selection split of SIRST frames alone cannot see what training with clusters buys, where a team
    needs it most; scored beside the frames themselves, it can (ml.train, `select_cluster_share`)."""
    out = []
    for s in samples:
        if s.mask is None:
            raise ValueError(f"frame {s.id!r} has no mask: a dense copy needs its targets")
        digest = int(hashlib.sha256(f"select-dense:{s.id}".encode()).hexdigest()[:16], 16)
        frame, cluster, cluster_points, _ = dense_frame(s.image, s.mask, np.random.default_rng([seed, digest]))
        own_points = s.points if s.points is not None else centroid_points(s.mask)
        own = s.instances
        if own is None and s.points is None:  # one target per component, as the centroid points say
            n_own, labels, _, _ = label_components(s.mask)
            own = [labels == k for k in range(1, n_own + 1)]
        union = s.mask.astype(bool).copy()
        for m in cluster:
            union |= m
        # Clicks without their own instances (touching targets share a component): no per-target counts.
        instances = None if own is None or len(own) != len(own_points) else [*own, *cluster]
        out.append(Sample(s.id, frame, union, np.concatenate([own_points, cluster_points]), instances))
    return out


def _next_to_cluster(
    centres: list[tuple[float, float, float, float]],
    middle: tuple[float, float],
    sy: float,
    sx: float,
    rng: np.random.Generator,
    level: float,
    max_gap: int,
) -> tuple[float, float]:
    """A centre beside a random placed target, at a drawn gap (-1: overlap, 0: touch, up to max_gap px).

    Of 4 drawn (neighbour, direction) proposals the one nearest the cluster's centre wins: a compact cluster.
    """
    gap = int(rng.integers(-1, max_gap + 1))
    best: tuple[float, float, float] | None = None  # (distance to the centre, cy, cx)
    for _ in range(4):
        py, px, psy, psx = centres[int(rng.integers(len(centres)))]
        theta = rng.uniform(0.0, 2.0 * np.pi)
        dy, dx = np.sin(theta), np.cos(theta)
        r_p = 1.0 / np.hypot(dy / _semi_axis(psy, level), dx / _semi_axis(psx, level))
        r_n = 1.0 / np.hypot(dy / _semi_axis(sy, level), dx / _semi_axis(sx, level))
        step = r_p + r_n + gap + 0.5
        cand = (py + step * dy, px + step * dx)
        dist = float(np.hypot(cand[0] - middle[0], cand[1] - middle[1]))
        if best is None or dist < best[0]:
            best = (dist, *cand)
    assert best is not None
    return best[1], best[2]


def _try_place(
    state: _ClusterState,
    taken: np.ndarray,
    target: tuple[float, float, float, float],
    amp: float,
    amp_floor: float,
    ceiling: float,
    max_gap: int,
) -> bool:
    """Add one target if it fits every rule of `implant_cluster` (else leave `state` as it was)."""
    cy, cx, sy, sx = target
    h, w = state.out.shape
    ay, ax = _semi_axis(sy, state.level), _semi_axis(sx, state.level)
    if cy - ay < 1 or cx - ax < 1 or cy + ay > h - 2 or cx + ax > w - 2:
        return False  # its region must lie inside the frame, a pixel from the border
    r = int(np.ceil(4 * max(sy, sx)))
    box = (slice(max(0, int(cy) - r), min(h, int(cy) + r + 1)), slice(max(0, int(cx) - r), min(w, int(cx) + r + 1)))
    blob = _blob(*np.mgrid[box], cy, cx, sy, sx)
    region = blob > state.level
    if not region.any() or taken[box][region].any():
        return False
    if state.boxes and _region_gap(state, box, region, max_gap) > max_gap + 1:
        return False
    patch_sigma = float(state.orig[box].std())
    amp = max(amp, 3.0 * patch_sigma)
    if np.isfinite(ceiling):
        # Scale down so that no pixel passes the ceiling (never clip), leaving a tenth of the headroom under
        # this peak: a neighbour's faint skirt there would otherwise find none left.
        reach = blob > 0
        amp = min(amp, 0.9 * float(np.min((ceiling - state.out[box][reach]) / blob[reach])))
    if amp < max(3.0 * patch_sigma, amp_floor):
        return False
    saved = (state.out[box].copy(), state.best[box].copy(), state.owner[box].copy())
    before = np.unique(state.labels(box))
    k = len(state.boxes) + 1
    state.out[box] += amp * blob
    state.owner[box] = np.where(blob > state.best[box], k, state.owner[box])
    state.best[box] = np.maximum(state.best[box], blob)
    state.boxes.append(box)
    state.areas.append(int(region.sum()))
    if all(state.valid(int(j)) for j in [*before[before > 0], k]):
        return True
    state.out[box], state.best[box], state.owner[box] = saved
    state.boxes.pop()
    state.areas.pop()
    return False


def _region_gap(state: _ClusterState, box: tuple[slice, slice], region: np.ndarray, max_gap: int) -> float:
    """Chessboard distance from the new region to the nearest placed instance (0: overlap, 1: touching)."""
    h, w = state.out.shape
    m = max_gap + 2
    ys, xs = box
    win = (slice(max(0, ys.start - m), min(h, ys.stop + m)), slice(max(0, xs.start - m), min(w, xs.stop + m)))
    placed = state.labels(win) > 0
    if not placed.any():
        return np.inf
    dist = cv2.distanceTransform(np.ascontiguousarray(~placed, dtype=np.uint8), cv2.DIST_C, 3)
    oy, ox = box[0].start - win[0].start, box[1].start - win[1].start
    return float(dist[oy : oy + region.shape[0], ox : ox + region.shape[1]][region].min())


def make_synthetic_sample(
    rng: np.random.Generator, shape: tuple[int, int] = (64, 64), n_targets: int = 2, bit_depth: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """A frame (uint8 or uint16 (H, W)) and its bool target mask (H, W)."""
    img, mask = implant_targets(_background(rng, shape), rng, n_targets)
    if bit_depth == 8:
        return np.rint(img * 255).astype(np.uint8), mask
    if bit_depth == 16:
        return np.rint(img * 65535).astype(np.uint16), mask
    raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")


def make_synthetic_samples(n: int, seed: int = 0, shape: tuple[int, int] = (64, 64)) -> list[Sample]:
    """n synthetic samples with 1-3 targets each, ids syn_000..."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img, mask = make_synthetic_sample(rng, shape, int(rng.integers(1, 4)))
        out.append(Sample(f"syn_{i:03d}", img, mask))
    return out


def write_synthetic_dataset(
    root: str | Path, n_train: int = 8, n_val: int = 4, seed: int = 0, shape: tuple[int, int] = (64, 64)
) -> Path:
    """Write images/, masks/ (0/255 PNG) and splits/{train,val}.txt under `root`; returns root."""
    root = Path(root)
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    samples = make_synthetic_samples(n_train + n_val, seed, shape)
    for s in samples:
        cv2.imwrite(str(root / "images" / f"{s.id}.png"), s.image)
        cv2.imwrite(str(root / "masks" / f"{s.id}.png"), s.mask.astype(np.uint8) * 255)
    (root / "splits" / "train.txt").write_text("\n".join(s.id for s in samples[:n_train]) + "\n")
    (root / "splits" / "val.txt").write_text("\n".join(s.id for s in samples[n_train:]) + "\n")
    return root
