"""Benchmark the training-free cold start on SIRST v1: choice of defaults on train, IoU / Pd / Fat / Fa on
train and val, Pd misses, 16-bit and inverted input, calibration gains and per-image speed.

Every parameter is chosen on train only; val is reported, never used to choose. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.calibration import calibrate_alpha  # noqa: E402
from ml.coldstart import ColdStartParams, _polarity, grabcut_masks, point_prompt_masks  # noqa: E402
from ml.metrics import MATCH_DISTANCE, SegmentationMetrics  # noqa: E402
from ml.points import centroid_points, coarse_points, label_components  # noqa: E402

REPORT = Path(__file__).resolve().parent / "reports" / "coldstart.md"
PLOT = REPORT.with_name("coldstart_alpha.png")

DEFAULT = ColdStartParams()
# The defaults before the size rule (alpha 0.35 for every blob): the baseline the size rule must beat.
PLAIN = dataclasses.replace(DEFAULT, size_alpha_factor=None)
# What shipped before this bench chose the defaults (cold-start.md §2 as first built).
LEGACY = dataclasses.replace(PLAIN, alpha=0.35, use_grabcut=True, separate=False, edge_free=None)
# Size-rule grid (train only): base alpha x factor x small_area x large_area; small_growth stays 1.5.
RULE_ALPHAS = (0.3, 0.35, 0.4)
RULE_FACTORS = (0.7, 0.85)
RULE_SMALL = (15, 20)
RULE_LARGE = (60, 100)
PLAIN_ALPHAS = (0.3, 0.35, 0.4)
KEEP_MARGIN = 0.3  # IoU points of cross-validated gain a new rule needs before it becomes the default
CV_SEEDS, CV_FOLDS = 20, 5
SEL_SCALES: tuple[tuple[int, ...], ...] = ((8, 16, 32), (8, 16, 32, 64), (4, 8, 16, 32))
SEL_ALPHAS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
TIE = 0.1  # IoU points: closer than this counts as a tie in the selection rule

Sample = tuple[str, np.ndarray, np.ndarray]  # id, image (H, W), gt bool (H, W)
Fn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def load_split(data: Path, split: str) -> list[Sample]:
    ids = (data / "splits" / f"{split}.txt").read_text().split()
    out = []
    for i in ids:
        img = cv2.imread(str(data / "images" / f"{i}.png"), cv2.IMREAD_UNCHANGED)
        gt = cv2.imread(str(data / "masks" / f"{i}.png"), cv2.IMREAD_GRAYSCALE) > 0
        out.append((i, img, gt))
    return out


def disc_masks(img: np.ndarray, pts: np.ndarray, radius: int = 2) -> np.ndarray:
    out = np.zeros(img.shape[:2], dtype=np.uint8)
    for x, y in np.rint(pts).astype(int):
        cv2.circle(out, (int(x), int(y)), radius, 1, -1)
    return out > 0


def gen(params: ColdStartParams) -> Fn:
    return lambda im, p: point_prompt_masks(im, p, params).union()


def evaluate(samples: list[Sample], points: dict[str, np.ndarray], fn: Fn, timed: bool = True) -> dict:
    scores, times = SegmentationMetrics(), []
    for i, img, gt in samples:
        t0 = time.perf_counter()
        pred = fn(img, points[i])
        times.append(1e3 * (time.perf_counter() - t0))
        scores.update(pred, gt)
    res = scores.result()
    out = {k: round(float(res[k]), 2) for k in ("iou", "pd", "fat", "fa")}
    if timed:
        out["ms_median"] = round(float(np.median(times)), 2)
        out["ms_p95"] = round(float(np.percentile(times, 95)), 2)
    return out


def cfg_name(p: ColdStartParams) -> str:
    sc = "-".join(map(str, p.scales))
    return f"{'lcg_grabcut' if p.use_grabcut else 'lcg'}_a{p.alpha:.2f}_s{sc}"


# ---------------------------------------------------------------- selection of the defaults (train only)


def select_defaults(train: list[Sample], pts: dict[str, np.ndarray]) -> dict:
    """Grid on train centroid points; rule: best mean IoU over alpha and its +-0.05 neighbours (a plateau,
    not a spike), ties within TIE go to no GrabCut, then fewer scales. Windows whose ring can sit on the
    target (smallest half-width < 8) are listed but not admissible: they break the iso-contour property
    of cold-start.md §5 for sigma >= 2.5 targets. A 5-fold cross-validation inside train compares this
    rule with the plain maximum."""
    rows, inter, union = [], [], []
    for sc in SEL_SCALES:
        for gc in (False, True):
            for a in SEL_ALPHAS:
                p = dataclasses.replace(PLAIN, scales=sc, use_grabcut=gc, alpha=a)
                scores, ii, uu = SegmentationMetrics(), [], []
                for i, img, gt in train:
                    pred = point_prompt_masks(img, pts[i], p).union()
                    scores.update(pred, gt)
                    ii.append(int(np.count_nonzero(pred & gt)))
                    uu.append(int(np.count_nonzero(pred | gt)))
                r = scores.result()
                rows.append(
                    {
                        "scales": list(sc),
                        "use_grabcut": gc,
                        "alpha": a,
                        **{k: round(float(r[k]), 2) for k in ("iou", "pd", "fat")},
                    }
                )
                inter.append(ii)
                union.append(uu)
    keys = [(tuple(r["scales"]), r["use_grabcut"], r["alpha"]) for r in rows]
    adm = np.array([min(r["scales"]) >= 8 for r in rows])

    def plateau(iou: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys))
        for k, (sc, gc, a) in enumerate(keys):
            out[k] = np.mean(
                [iou[j] for j, (s2, g2, a2) in enumerate(keys) if (s2, g2) == (sc, gc) and abs(a2 - a) < 0.051]
            )
        return out

    def pick(iou: np.ndarray, rule: str) -> int:
        score = np.where(adm, plateau(iou) if rule == "plateau" else iou, -np.inf)
        tied = [k for k in range(len(keys)) if score[k] >= score.max() - TIE / 100]
        return min(tied, key=lambda k: (keys[k][1], len(keys[k][0]), -score[k]))

    ii, uu = np.array(inter, dtype=np.float64), np.array(union, dtype=np.float64)
    full = ii.sum(1) / uu.sum(1)
    for r, pl in zip(rows, plateau(full), strict=True):
        r["plateau"] = round(100 * float(pl), 2)
        r["admissible"] = min(r["scales"]) >= 8
    cv: dict[str, list[float]] = {"max": [], "plateau": []}
    n = ii.shape[1]
    for seed in range(20):
        for fold in np.array_split(np.random.default_rng(seed).permutation(n), 5):
            fit = np.setdiff1d(np.arange(n), fold)
            iou_fit = ii[:, fit].sum(1) / uu[:, fit].sum(1)
            iou_out = ii[:, fold].sum(1) / uu[:, fold].sum(1)
            for rule in cv:
                cv[rule].append(float(iou_out[pick(iou_fit, rule)]))
    best = pick(full, "plateau")
    sc, gc, a = keys[best]
    chosen = {"scales": sc, "use_grabcut": gc, "alpha": a}
    return {
        "rows": rows,
        "chosen": chosen,
        "defaults_match": chosen == {"scales": PLAIN.scales, "use_grabcut": PLAIN.use_grabcut, "alpha": PLAIN.alpha},
        "cv_heldout_iou": {rule: round(100 * float(np.mean(v)), 2) for rule, v in cv.items()},
        "max_rule_pick": dict(zip(("scales", "use_grabcut", "alpha"), keys[pick(full, "max")], strict=True)),
    }


# ---------------------------------------------------------------- the size rule (train only)

# Other candidates tried on train before the size rule, with a scratch variant of `_lcg` (not shipped; the
# exploration script is not in the repository, so these figures are copied here, not recomputed):
# name, configs in the family, 5-fold CV (20 repeats) held-out IoU / Pd / Fat, best config on all train,
# its train IoU / Pd / Fat. Same CV protocol as `select_size_rule` (pick the max on 4 folds, score the 5th).
EXPLORED: list[list] = [
    ["alpha only (baseline LCG)", 3, 74.24, 98.79, 1.21, "(0.35,)", 75.58, 99.08, 0.92],
    ["peak = mean of top-2 in 3x3", 3, 74.34, 98.44, 1.56, "(0.35,)", 75.73, 98.47, 1.53],
    ["background = interquartile mean of ring", 3, 74.66, 99.26, 0.74, "(0.3,)", 75.22, 99.39, 0.61],
    ["background = robust plane fit on ring", 3, 74.2, 98.87, 1.13, "(0.35,)", 74.82, 99.08, 0.92],
    ["sub-pixel decision (2x bilinear, >= half the pixel area)", 3, 73.52, 99.03, 0.97, "(0.35,)", 74.62, 99.08, 0.92],
    ["T = b + max(alpha(v-b), 2 sigma_MAD)", 3, 73.22, 98.8, 1.2, "(0.3,)", 73.02, 98.78, 1.22],
    ["T = b + max(alpha(v-b), 3 sigma_MAD)", 3, 70.14, 99.69, 0.31, "(0.3,)", 69.91, 99.69, 0.31],
    ["+ 3x3 cross opening", 3, 72.2, 99.4, 0.6, "(0.3,)", 72.99, 99.39, 0.61],
    ["+ 1-px dilation when < 10 px", 3, 72.43, 98.79, 1.21, "(0.35,)", 73.76, 99.08, 0.92],
    ["+ 1-px dilation when < 15 px", 3, 70.18, 98.85, 1.15, "(0.35,)", 71.32, 99.08, 0.92],
    [
        "D: lower alpha (step 0.05, floor) while area grows < r",
        36,
        74.3,
        98.82,
        1.18,
        "(0.35, 0.25, 1.1, 0.05)",
        75.93,
        99.08,
        0.92,
    ],
    [
        "D + small-blob rule (< A_s px at alpha_s)",
        32,
        75.77,
        98.93,
        1.07,
        "(0.35, 0.25, 1.1, 15, 0.3)",
        76.26,
        99.08,
        0.92,
    ],
    [
        "D + small-blob rule + growth cap 1.5",
        64,
        75.97,
        99.1,
        0.9,
        "(0.35, 0.25, 1.1, 15, 0.25, 1.5)",
        76.39,
        99.08,
        0.92,
    ],
    [
        "size rule (alpha, A_s, alpha_s, A_l, alpha_l)",
        32,
        75.95,
        99.1,
        0.9,
        "(0.35, 15, 0.25, 100, 0.25)",
        76.48,
        99.08,
        0.92,
    ],
    ["size rule + D", 32, 76.16, 99.1, 0.9, "(0.35, 15, 0.25, 100, 0.25)", 76.71, 99.08, 0.92],
]


def _per_image(samples: list[Sample], pts: dict[str, np.ndarray], params: ColdStartParams) -> np.ndarray:
    """Per image: intersection, union, matched GT targets, GT targets, unmatched predicted components."""
    rows = []
    for i, img, gt in samples:
        m = SegmentationMetrics()
        m.update(point_prompt_masks(img, pts[i], params).union(), gt)
        rows.append((m.inter, m.union, m.n_matched, m.n_targets, m.n_false))
    return np.array(rows, dtype=np.float64)


def _cv(tables: list[np.ndarray]) -> dict:
    """Held-out IoU / Pd / Fat of "pick the best pooled IoU on 4 folds" (5 folds x CV_SEEDS repeats)."""
    t = np.stack(tables)
    n, out = t.shape[1], []
    for seed in range(CV_SEEDS):
        for fold in np.array_split(np.random.default_rng(seed).permutation(n), CV_FOLDS):
            fit = np.setdiff1d(np.arange(n), fold)
            j = int(np.argmax(t[:, fit, 0].sum(1) / t[:, fit, 1].sum(1)))
            f = t[j, fold].sum(0)
            out.append((f[0] / f[1], f[2] / f[3], f[4] / f[3]))
    iou, pd, fat = (100 * np.mean(out, axis=0)).round(2)
    return {"iou": float(iou), "pd": float(pd), "fat": float(fat)}


def select_size_rule(train: list[Sample], pts: dict[str, np.ndarray]) -> dict:
    """Does redoing small and large blobs at a lower alpha beat one alpha for all, held out inside train?

    Two families, each selected by its own maximum on the fit folds: alpha only (PLAIN_ALPHAS) and the size
    rule (RULE_* grid). The rule becomes the default only when its cross-validated IoU gain exceeds
    KEEP_MARGIN; the default is then the rule's best setting on all of train.
    """
    fams: dict[str, list[tuple[ColdStartParams, np.ndarray]]] = {"alpha_only": [], "size_rule": []}
    for a in PLAIN_ALPHAS:
        p = dataclasses.replace(PLAIN, alpha=a)
        fams["alpha_only"].append((p, _per_image(train, pts, p)))
    for a in RULE_ALPHAS:
        for f in RULE_FACTORS:
            for sa in RULE_SMALL:
                for la in RULE_LARGE:
                    p = dataclasses.replace(PLAIN, alpha=a, size_alpha_factor=f, small_area=sa, large_area=la)
                    fams["size_rule"].append((p, _per_image(train, pts, p)))
    out: dict = {"families": {}}
    for name, items in fams.items():
        full = [100 * t[:, 0].sum() / t[:, 1].sum() for _, t in items]
        j = int(np.argmax(full))
        best, t = items[j]
        out["families"][name] = {
            "n": len(items),
            "cv": _cv([t for _, t in items]),
            "best": _rule_dict(best),
            "train": {
                "iou": round(float(full[j]), 2),
                "pd": round(100 * float(t[:, 2].sum() / t[:, 3].sum()), 2),
                "fat": round(100 * float(t[:, 4].sum() / t[:, 3].sum()), 2),
            },
            "grid": [{**_rule_dict(p), "iou": round(float(v), 2)} for (p, _), v in zip(items, full, strict=True)],
        }
    fam = out["families"]
    gain = fam["size_rule"]["cv"]["iou"] - fam["alpha_only"]["cv"]["iou"]
    out["cv_gain"] = round(float(gain), 2)
    out["chosen"] = fam["size_rule" if gain > KEEP_MARGIN else "alpha_only"]["best"]
    out["defaults_match"] = out["chosen"] == _rule_dict(DEFAULT)
    return out


def _rule_dict(p: ColdStartParams) -> dict:
    if p.size_alpha_factor is None:
        return {"alpha": p.alpha, "size_alpha_factor": None}
    keys = ("alpha", "size_alpha_factor", "small_area", "large_area", "small_growth")
    return {k: getattr(p, k) for k in keys}


# ---------------------------------------------------------------- Pd misses and their cause


def misses(samples: list[Sample], params: ColdStartParams) -> list[dict]:
    """GT targets the metric does not detect (centroid clicks), with a cause per target."""
    out = []
    for i, img, gt in samples:
        pts = centroid_points(gt)
        res = point_prompt_masks(img, pts, params)
        union = res.union()
        n_g, _, s_g, c_g = label_components(gt)
        n_p, lab_p, _, c_p = label_components(union)
        free = np.ones(n_p, dtype=bool)
        for a in range(n_g):
            hit = next((j for j in range(n_p) if free[j] and np.hypot(*(c_g[a] - c_p[j])) < MATCH_DISTANCE), None)
            if hit is not None:
                free[hit] = False
                continue
            inst = res.masks[a]  # clicks are in GT label order
            ys, xs = np.nonzero(inst)
            drift = float(np.hypot(xs.mean() - c_g[a][0], ys.mean() - c_g[a][1]))
            comp = lab_p == lab_p[int(pts[a, 1]), int(pts[a, 0])]  # the union component holding the click
            others = sum(bool((comp & m).any()) for k, m in enumerate(res.masks) if k != a)
            area, w, h = int(s_g[a, 4]), int(s_g[a, 2]), int(s_g[a, 3])
            if others:
                cause = "merged with a neighbour in the union"
            elif inst.sum() > 2 * area:
                cause = "leak (mask > 2x GT)"
            elif inst.sum() < 0.6 * area:
                cause = "big/elongated target cut (mask < 0.6x GT)"
            else:
                cause = "centroid drift"
            out.append(
                {
                    "id": i,
                    "gt_area": area,
                    "gt_wh": [w, h],
                    "mask_area": int(inst.sum()),
                    "drift_px": round(drift, 1),
                    "cause": cause,
                }
            )
    return out


# ---------------------------------------------------------------- input variants


def to_x257(img: np.ndarray) -> np.ndarray:
    return img.astype(np.uint16) * 257


def to_12bit_gamma(img: np.ndarray) -> np.ndarray:
    """A nonlinear 16-bit frame: offset 256, 12-bit range, gamma 2 (display 8-bit ~ sqrt of counts)."""
    return (256 + np.rint(3839.0 * (img.astype(np.float64) / 255.0) ** 2)).astype(np.uint16)


def inverted(img: np.ndarray) -> np.ndarray:
    return 255 - img


def input_variants(val: list[Sample], pts: dict[str, np.ndarray]) -> dict:
    variants: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "8bit": lambda im: im,
        "x257_16bit": to_x257,
        "12bit_gamma2_offset": to_12bit_gamma,
        "inverted_8bit": inverted,
        "inverted_x257_16bit": lambda im: to_x257(inverted(im)),
    }
    out: dict = {}
    for label, params in (("default", DEFAULT), ("lcg_grabcut", dataclasses.replace(DEFAULT, use_grabcut=True))):
        ref = {i: point_prompt_masks(img, pts[i], params).masks for i, img, _ in val}
        rows = {}
        for name, fn in variants.items():
            conv = [(i, fn(img), gt) for i, img, gt in val]
            row = evaluate(conv, pts, gen(params), False)
            same = total = 0
            for i, img, _ in conv:
                for a, b in zip(ref[i], point_prompt_masks(img, pts[i], params).masks, strict=True):
                    same += int(np.array_equal(a, b))
                    total += 1
            row["same_masks_pct"] = round(100.0 * same / total, 2)
            if name.startswith("inverted"):
                dark = sum(
                    _polarity(fn(img).astype(np.float64), c, params) < 0 for i, img, _ in val for c in _rc(pts[i])
                )
                row["dark_polarity_pct"] = round(100.0 * dark / total, 2)
            rows[name] = row
        forced = dataclasses.replace(params, polarity="dark")
        rows["inverted_8bit_polarity_dark"] = evaluate(
            [(i, inverted(img), g) for i, img, g in val], pts, gen(forced), False
        )
        out[label] = rows
    return out


def _rc(pts: np.ndarray) -> np.ndarray:
    return np.rint(pts[:, ::-1]).astype(np.int64)


# ---------------------------------------------------------------- calibration gains


def dilate(gt: np.ndarray) -> np.ndarray:
    return cv2.dilate(gt.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def calibration_gains(train: list[Sample], val: list[Sample], pts: dict[str, dict[str, np.ndarray]]) -> dict:
    """Calibrate alpha (and GrabCut on/off) on train, report val; clicks stay the original centroids."""
    out: dict = {}
    styles = {
        "original": (lambda im: im, lambda g: g),
        "dilated_3x3": (lambda im: im, dilate),
        "12bit_gamma2_input": (to_12bit_gamma, lambda g: g),
    }
    for style, (fi, fn) in styles.items():
        tr = [(i, fi(img), fn(gt)) for i, img, gt in train]
        va = [(i, fi(img), fn(gt)) for i, img, gt in val]
        cal = calibrate_alpha((img, pts["train"][i], gt) for i, img, gt in tr)
        tuned = dataclasses.replace(DEFAULT, alpha=cal.best_alpha, use_grabcut=cal.best_use_grabcut)
        row = {
            "alpha": cal.best_alpha,
            "use_grabcut": cal.best_use_grabcut,
            "val_default": evaluate(va, pts["val"], gen(DEFAULT), False),
            "val_calibrated": evaluate(va, pts["val"], gen(tuned), False),
            "table": [{**r, "iou": round(100 * r["iou"], 2)} for r in cal.table],
        }
        row["gain_iou"] = round(row["val_calibrated"]["iou"] - row["val_default"]["iou"], 2)
        small = []
        for seed in range(10):  # the app calibrates after ~15 confirmed images
            pick = np.random.default_rng(seed).choice(len(tr), size=15, replace=False)
            c15 = calibrate_alpha((tr[j][1], pts["train"][tr[j][0]], tr[j][2]) for j in pick)
            p15 = dataclasses.replace(DEFAULT, alpha=c15.best_alpha, use_grabcut=c15.best_use_grabcut)
            small.append(
                {
                    "seed": seed,
                    "alpha": c15.best_alpha,
                    "use_grabcut": c15.best_use_grabcut,
                    "val_iou": evaluate(va, pts["val"], gen(p15), False)["iou"],
                }
            )
        row["n15"] = small
        ious = [s["val_iou"] for s in small]
        row["n15_summary"] = {
            "seed0": ious[0],
            "mean": round(float(np.mean(ious)), 2),
            "min": min(ious),
            "max": max(ious),
        }
        out[style] = row
    return out


# ---------------------------------------------------------------- speed


def synthetic_frame(size: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frame: smooth clutter + noise + n Gaussian targets at least 12 px apart; their centres (x, y)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    clutter = cv2.GaussianBlur(rng.normal(0, 40, (size, size)).astype(np.float32), (0, 0), size / 16)
    img = 90 + 4 * clutter + rng.normal(0, 3, (size, size)).astype(np.float32)
    centres: list[tuple[int, int]] = []
    while len(centres) < n:
        c = tuple(int(v) for v in rng.integers(4, size - 4, 2))
        if all(max(abs(c[0] - d[0]), abs(c[1] - d[1])) >= 12 for d in centres):
            centres.append(c)
    for cx, cy in centres:
        s, amp = rng.uniform(0.8, 2.5), rng.uniform(40, 120)
        sl = np.s_[max(cy - 10, 0) : cy + 11, max(cx - 10, 0) : cx + 11]
        img[sl] += amp * np.exp(-((xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2) / (2 * s * s))
    return np.clip(img, 0, 255).astype(np.uint8), np.array(centres, dtype=np.float64)


def speed(reps: int) -> dict:
    out: dict = {}
    labelled = (
        ("default", DEFAULT),
        ("previous_default", PLAIN),
        ("lcg_grabcut", dataclasses.replace(DEFAULT, use_grabcut=True)),
    )
    for label, params in labelled:
        for size in (256, 512):
            for n in (1, 3, 5, 30):
                rng = np.random.default_rng(size + n)
                frames = [synthetic_frame(size, n, rng) for _ in range(reps)]
                point_prompt_masks(*frames[0], params)  # warm-up
                ts = []
                for img, p in frames:
                    t0 = time.perf_counter()
                    point_prompt_masks(img, p, params).union()
                    ts.append(1e3 * (time.perf_counter() - t0))
                out[f"{label}_{size}_{n}"] = {
                    "ms_median": round(float(np.median(ts)), 2),
                    "ms_p95": round(float(np.percentile(ts, 95)), 2),
                }
    return out


# ---------------------------------------------------------------- report


def table(header: list[str], rows: list[list]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(map(str, r)) + " |" for r in rows),
    ]


def goal_lines(v: dict) -> list[str]:
    checks = [("IoU", v["iou"], ">= 78", v["iou"] >= 78), ("Pd", v["pd"], ">= 99", v["pd"] >= 99)]
    checks.append(("Fat", v["fat"], "= 0", v["fat"] == 0))
    return [f"- {name} {val} (goal {goal}): {'met' if ok else 'NOT met'}" for name, val, goal, ok in checks]


def fmt_cfg(c: dict) -> str:
    return f"scales {tuple(c['scales'])}, GrabCut {'on' if c['use_grabcut'] else 'off'}, alpha {c['alpha']}"


def write_report(res: dict, command: str) -> None:
    """bench/reports/coldstart.md: one section per question the bench answers, in reading order."""
    sections = (
        _intro_section(res, command),
        _size_rule_section(res),
        _results_section(res),
        _misses_section(res),
        _inputs_section(res),
        _calibration_section(res),
        _speed_section(res),
        _calibration_table_section(res),
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(line for section in sections for line in section))


def _intro_section(res: dict, command: str) -> list[str]:
    """Goals, the chosen defaults and the selection rule with its grid."""
    sel = res["selection"]
    ch = sel["chosen"]
    L = [
        "# Cold start on SIRST v1 (training-free point-to-mask)",
        "",
        f"Command (2 shared CPU cores, about 3.5 min under load): `{command}`",
        "",
        "Scores from `ml.metrics.SegmentationMetrics`: pooled IoU %, Pd % (centroid distance < 3 px, greedy in GT "
        "order), Fat % (unmatched predicted components per GT target), Fa (unmatched predicted pixels per 10^6 "
        "pixels). Every parameter below was chosen on **train**; val is reported only. Centroid points = floored "
        "GT centroids; coarse = `ml.points.coarse_points` (seed 0).",
        "",
        "## Issue 5 goals (val, centroid points, defaults chosen on train)",
        "",
        *goal_lines(res["results"]["val"]["centroid"]["default"]),
        "",
        "Val evaluations disclosed: the size rule (and every candidate in its sections below) was designed, "
        "tuned and chosen on train only; val saw the size rule once, in the run that wrote this report "
        "(2026-11-25), which also prints the other rows of the Results table. Earlier val figures: "
        "`previous_default` (77.0 IoU) and the two scale-4 settings disclosed under the selection rule.",
        "",
        "## Defaults (chosen on train)",
        "",
        f"`ColdStartParams()` = alpha {DEFAULT.alpha}, scales {DEFAULT.scales}, GrabCut "
        f"{'on' if DEFAULT.use_grabcut else 'off'}, separate {DEFAULT.separate}, edge_free {DEFAULT.edge_free}, "
        f"size rule: factor {DEFAULT.size_alpha_factor} for blobs < {DEFAULT.small_area} or >= "
        f"{DEFAULT.large_area} px (next-but-one section). "
        f"The selection rule below picks {fmt_cfg(ch)}: "
        f"{'the same as' if sel['defaults_match'] else 'DIFFERENT FROM'} the defaults.",
        "",
        "Changes to the generator before the size rule, all general (not per image); the first two came from "
        "the Pd misses (section below):",
        "",
        "- `separate=True`: instances may not 8-touch; a pixel touching another instance goes when the other pixel "
        "is nearer its own click (clicks never go). Before, two targets 1-2 px apart gave two disjoint instances "
        "whose *union* was one blob, so the metric (and any component-based reader) saw one target.",
        "- `edge_free=8`: a blob reaching an image border counts as leaking unless the peak is within 8 px of that "
        "border. Before, a window clipped by the image had no edge there, so a faint target beside clutter that "
        "runs to the border grew into a 100-300 px blob at the largest scale.",
        "- `use_grabcut` now defaults to off (LCG alone ties LCG ∪ GrabCut on train and is ~5x faster); alpha stays "
        "0.35, scales stay (8, 16, 32). GrabCut remains a per-project / per-target option; `gc_merge="
        '"intersection"` (GrabCut trims a loose LCG blob) was tried and loses 6-7 IoU on train.',
        "",
        "Selection rule: train centroid points; score = mean IoU over alpha and its ±0.05 neighbours "
        "(a plateau, not a spike: the app's tightness slider and a calibration on few images both move "
        f"alpha); ties within {TIE} IoU go to no GrabCut, then fewer scales. 5-fold cross-validation "
        f"inside train (20 repeats) gives held-out IoU {sel['cv_heldout_iou']['plateau']} for this rule "
        f"vs {sel['cv_heldout_iou']['max']} for the plain maximum (which picks "
        f"{fmt_cfg(sel['max_rule_pick'])} on all of train). Windows starting at half-width 4 are not "
        "admissible: their ring lies on the skirt of a sigma >= 2.5 target and returns about half the "
        "analytic iso-contour (test `test_gaussian_blob_matches_analytic_iso_contour[...-3.0]`). "
        "Disclosure: before that exclusion and the plateau rule were set, I evaluated the two best "
        "scale-4 settings on train on val (LCG α 0.25 → 74.76, α 0.30 → 74.61 IoU, Pd 100); nothing was "
        "chosen from those figures.",
        "",
    ]
    L += table(
        ["scales", "GrabCut", "alpha", "IoU", "plateau", "Pd", "Fat", "admissible"],
        [
            [r["scales"], r["use_grabcut"], r["alpha"], r["iou"], r["plateau"], r["pd"], r["fat"], r["admissible"]]
            for r in sel["rows"]
        ],
    )
    return L


def _size_rule_section(res: dict) -> list[str]:
    sr = res["size_rule"]
    fam = sr["families"]
    L = [
        "",
        "## Size rule (chosen on train by cross-validation)",
        "",
        "The grid above fixes scales (8, 16, 32) and GrabCut off with one alpha for every blob. The worst train "
        "targets (pixels lost) were large extended targets (ships, planes: a hot spot on a dimmer body, so "
        "b + 0.35 (v - b) keeps the hot spot only; GT areas 89-330 px, masks 0.3-0.8x GT) and small ones, whose "
        "masks are drawn wider than the iso-contour (targets under 15 px at alpha 0.35 have GT/mask area 1.25-"
        "1.36). The size rule (`ColdStartParams.size_alpha_factor`, `_size_rule`): after the blob at alpha is "
        "accepted, a blob under `small_area` px or of at least `large_area` px is redone in the same window "
        "at alpha x `size_alpha_factor`; the redo is refused when it reaches the window edge or (small blobs) "
        "grows more than `small_growth` (1.5x: a leak into clutter). The tightness slider and the calibration "
        "still move alpha; the rule scales with it.",
        "",
        f"Protocol: {CV_FOLDS}-fold cross-validation inside the 256 train images, {CV_SEEDS} repeats; each family "
        "picks its best pooled IoU on 4 folds and is scored on the 5th (held-out pooled IoU / Pd / Fat, mean "
        f"over folds). The rule becomes the default only if its held-out IoU gain exceeds {KEEP_MARGIN}.",
        "",
    ]
    L += table(
        ["family", "configs", "CV IoU", "CV Pd", "CV Fat", "best on all train", "train IoU", "train Pd", "train Fat"],
        [
            [name, f["n"], f["cv"]["iou"], f["cv"]["pd"], f["cv"]["fat"], f["best"], *f["train"].values()]
            for name, f in fam.items()
        ],
    )
    L += [
        "",
        f"Held-out gain {sr['cv_gain']} IoU: chosen {sr['chosen']}, "
        f"{'the same as' if sr['defaults_match'] else 'DIFFERENT FROM'} `ColdStartParams()`.",
        "",
        "Size-rule grid on all of train (pooled IoU %):",
        "",
    ]
    L += table(
        ["alpha", "factor", "small_area", "large_area", "IoU"],
        [
            [g["alpha"], g["size_alpha_factor"], g["small_area"], g["large_area"], g["iou"]]
            for g in fam["size_rule"]["grid"]
        ],
    )
    L += [
        "",
        "Other candidates, tried on train only with a scratch variant of `_lcg` (not shipped), same CV "
        "protocol, each family over alpha 0.30 / 0.35 / 0.40 unless its best setting shows more knobs; none "
        f"beat alpha-only by more than {KEEP_MARGIN} on both CV and all of train, except the size-rule "
        "families (the shipped rule is their simplest member: one factor for small and large blobs; "
        "adding the descend rule D gained 0.21 CV IoU, under the margin). **These rows are constants "
        "(`EXPLORED`) copied from that exploration script, which is not in the repository: this bench prints "
        "them but does not recompute them**; the size rule's own selection above is recomputed on every run:",
        "",
    ]
    L += table(
        [
            "candidate",
            "configs",
            "CV IoU",
            "CV Pd",
            "CV Fat",
            "best on all train",
            "train IoU",
            "train Pd",
            "train Fat",
        ],
        EXPLORED,
    )
    return L


def _results_section(res: dict) -> list[str]:
    cal = res["calibration"]["original"]
    L = ["", "## Results", ""]
    rows = []
    for split, by_pts in res["results"].items():
        for kind, by_m in by_pts.items():
            for m, s in by_m.items():
                rows.append([split, kind, m, s["iou"], s["pd"], s["fat"], s["fa"], s["ms_median"], s["ms_p95"]])
    L += table(["split", "points", "method", "IoU", "Pd", "Fat", "Fa", "ms median", "ms p95"], rows)
    L += [
        "",
        "`default` = `ColdStartParams()`; `previous_default` = the same without the size rule (alpha 0.35 for "
        "every blob, the defaults before this change); `legacy` = the first version (α 0.35, GrabCut on, no "
        "separation, image edges never leak); `+separate`, `+edge_free` add the two fixes to it (the last row = "
        "`previous_default` with GrabCut on); `calibrated_on_train` = `calibrate_alpha` on train (α {cal['alpha']}, "
        f"GrabCut {cal['use_grabcut']}).",
        "",
    ]
    return L


def _misses_section(res: dict) -> list[str]:
    L = ["## Pd misses (centroid points)", ""]
    mrows = [
        [k, m["id"], m["gt_area"], m["gt_wh"], m["mask_area"], m["drift_px"], m["cause"]]
        for k, ms in res["misses"].items()
        for m in ms
    ]
    L += table(["split / generator", "image", "GT px", "GT w×h", "mask px", "drift px", "cause"], mrows)
    L += [
        "",
        "Causes: *merged* = two instances 8-touch, so the union shows one component for two targets (all legacy "
        "misses on val, 4 of 7 on train; fixed by `separate`); *leak* = the blob runs along clutter to the image "
        "border (Misc_142: 230 px for a 14 px target; fixed by `edge_free`). Left on train: Misc_69, a saturated "
        "10×5 target beside a bright cloud (mask 81 px, centroid 3.0 px off: half leak, half drift), and Misc_28, "
        "two elongated targets (20×5, 24×4 px) whose brightness sits at one end, so the relative threshold keeps "
        "that end only (thin/long targets; no general fix tried here). No miss comes from the 3 px snap, a "
        "dark target, or a target larger than the windows.",
        "",
    ]
    return L


def _inputs_section(res: dict) -> list[str]:
    L = [
        "## 16-bit input and dark targets (val, centroid points)",
        "",
        "`x257` = 8-bit × 257 as uint16; `12bit_gamma2_offset` = 256 + 3839·(I/255)² as uint16 (a nonlinear, "
        "offset 12-bit frame); `inverted` = 255 − I (targets darker than the background), polarity `auto` unless "
        "noted. `same masks` = share of instances identical to the 8-bit original.",
        "",
    ]
    irows = []
    for label, by_v in res["inputs"].items():
        for v, s in by_v.items():
            irows.append(
                [label, v, s["iou"], s["pd"], s["fat"], s.get("same_masks_pct", ""), s.get("dark_polarity_pct", "")]
            )
    L += table(["generator", "input", "IoU", "Pd", "Fat", "same masks %", "dark polarity chosen %"], irows)
    L += [
        "",
        "The generator is invariant to positive affine intensity changes (LCG thresholds relative to b and v; "
        "GrabCut min-max scales its window), so ×257 gives the same masks. A gamma changes the shape of the "
        "profile, so the relative threshold α cuts at another iso-level; a calibration on such frames recovers "
        "most of it (next section, row `12bit_gamma2_input`). "
        'Dark targets are found by `polarity="auto"` when the dip beats the bright reading by 1.5×.',
        "",
    ]
    return L


def _calibration_section(res: dict) -> list[str]:
    L = ["## Calibration gains (alpha and GrabCut on/off, chosen on train, reported on val)", ""]
    crows = []
    for style, c in res["calibration"].items():
        crows.append(
            [
                style,
                f"{c['alpha']} / {'on' if c['use_grabcut'] else 'off'}",
                c["val_default"]["iou"],
                c["val_calibrated"]["iou"],
                c["gain_iou"],
                c["n15_summary"]["seed0"],
                f"{c['n15_summary']['mean']} ({c['n15_summary']['min']}–{c['n15_summary']['max']})",
            ]
        )
    L += table(
        [
            "annotation style",
            "α / GrabCut from all train",
            "val IoU, default",
            "val IoU, calibrated",
            "gain",
            "val IoU, 15 train images (seed 0)",
            "15 images, 10 seeds: mean (min–max)",
        ],
        crows,
    )
    L += [
        "",
        "`dilated_3x3` re-annotates both train and val masks with a 3×3 dilation (a halo-inclusive style); "
        "`12bit_gamma2_input` keeps the masks and feeds the nonlinear 12-bit frames above (train and val); "
        "clicks stay the original centroids. 15-image calibrations draw 15 train images without replacement "
        "(`numpy.random.default_rng(seed)`, seeds 0-9).",
        "",
    ]
    return L


def _speed_section(res: dict) -> list[str]:
    L = ["## Speed (synthetic frames, one process, OpenCV single-threaded)", ""]
    srows = []
    for k, s in res["speed"].items():
        label, size, n = k.rsplit("_", 2)
        srows.append([label, f"{size}×{size}", n, s["ms_median"], s["ms_p95"]])
    L += table(["generator", "frame", "clicks", "ms median", "ms p95"], srows)
    L += [
        "",
        f"{res['speed_reps']} frames per cell: smooth clutter + noise + Gaussian targets (σ 0.8-2.5 px) at ≥ 12 px "
        "spacing, clicks on the centres; time of `point_prompt_masks(...).union()`.",
        "",
    ]
    return L


def _calibration_table_section(res: dict) -> list[str]:
    L = ["## Calibration table (train, original masks, centroid points, pooled IoU %)", ""]
    L += table(
        ["alpha", "GrabCut", "IoU"],
        [[r["alpha"], r["use_grabcut"], r["iou"]] for r in res["calibration"]["original"]["table"]],
    )
    L += [
        "",
        f"![alpha curve]({PLOT.name})",
        "",
        "Reported, not measured here (EDGSP paper Table 1, SIRST-v1 column, SIRST3 test split, IoU %): MCLC 75.63, "
        "MCGC 72.43, RobustSAM 78.89, SAM 6.27, LESPS 41.84, COM 53.19; EDGSP (trained) 83.83.",
        "",
        "JSON line:",
        "",
        "```",
        json.dumps(res),
        "```",
        "",
    ]
    return L


def plot_alpha(table_rows: list[dict]) -> None:
    """A dependency-free line plot of pooled IoU against alpha (OpenCV), one line per GrabCut setting."""
    w, h, m = 480, 300, 40
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.rectangle(img, (m, m // 2), (w - m // 2, h - m), (0, 0, 0), 1)
    alphas = sorted({r["alpha"] for r in table_rows})
    ious = [r["iou"] for r in table_rows]
    lo, hi = min(ious) - 1, max(ious) + 1

    def xy(a: float, v: float) -> tuple[int, int]:
        fx = (a - alphas[0]) / max(alphas[-1] - alphas[0], 1e-9)
        return int(m + fx * (w - 1.5 * m)), int(h - m - (v - lo) / (hi - lo) * (h - 1.5 * m))

    for gc, color in ((True, (200, 60, 0)), (False, (0, 120, 0))):
        rows = sorted((r for r in table_rows if r["use_grabcut"] == gc), key=lambda r: r["alpha"])
        pts = np.array([xy(r["alpha"], r["iou"]) for r in rows], np.int32)
        if len(pts):
            cv2.polylines(img, [pts], False, color, 2)
            label = "LCG+GrabCut" if gc else "LCG"
            cv2.putText(img, label, (int(pts[-1][0]) - 90, int(pts[-1][1]) - 8), 0, 0.4, color, 1)
    for a in alphas:
        cv2.putText(img, f"{a:.2f}", (xy(a, lo)[0] - 12, h - m + 15), 0, 0.35, (0, 0, 0), 1)
    cv2.putText(img, f"IoU {lo:.1f}..{hi:.1f}", (m, 14), 0, 0.4, (0, 0, 0), 1)
    cv2.imwrite(str(PLOT), img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/sirst"))
    ap.add_argument("--speed-reps", type=int, default=40)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    data = {s: load_split(args.data, s) for s in ("train", "val")}
    points = {
        s: {
            "centroid": {i: centroid_points(gt) for i, _, gt in data[s]},
            "coarse": {i: coarse_points(gt, rng) for i, _, gt in data[s]},
        }
        for s in data
    }
    cent = {s: points[s]["centroid"] for s in data}
    res: dict = {"bench": "coldstart", "defaults": dataclasses.asdict(DEFAULT)}
    res["selection"] = select_defaults(data["train"], cent["train"])
    res["size_rule"] = select_size_rule(data["train"], cent["train"])
    res["calibration"] = calibration_gains(data["train"], data["val"], cent)
    cal = res["calibration"]["original"]
    methods: dict[str, Fn] = {
        "disc_r2": disc_masks,
        "grabcut_only": lambda im, p: grabcut_masks(im, p, DEFAULT).union(),
        "legacy": gen(LEGACY),
        "legacy+separate": gen(dataclasses.replace(LEGACY, separate=True)),
        "legacy+separate+edge_free": gen(dataclasses.replace(LEGACY, separate=True, edge_free=DEFAULT.edge_free)),
        "previous_default": gen(PLAIN),
        "default": gen(DEFAULT),
        "calibrated_on_train": gen(dataclasses.replace(DEFAULT, alpha=cal["alpha"], use_grabcut=cal["use_grabcut"])),
    }
    res["results"] = {
        s: {
            kind: {name: evaluate(data[s], points[s][kind], fn) for name, fn in methods.items()}
            for kind in ("centroid", "coarse")
        }
        for s in ("train", "val")
    }
    res["misses"] = {
        f"{s} / {name}": misses(data[s], p)
        for s in ("train", "val")
        for name, p in (("legacy", LEGACY), ("previous_default", PLAIN), ("default", DEFAULT))
    }
    res["inputs"] = input_variants(data["val"], cent["val"])
    res["speed_reps"] = args.speed_reps
    res["speed"] = speed(args.speed_reps)
    command = ("python bench/coldstart.py " + " ".join(sys.argv[1:])).strip()
    plot_alpha(res["calibration"]["original"]["table"])
    write_report(res, command)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
