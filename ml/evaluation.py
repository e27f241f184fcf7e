"""Dataset-level evaluation of predictors and of mask directories (spec §7 metrics)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ml.data import Sample, find_file, list_ids, read_image, read_mask
from ml.metrics import SegmentationMetrics, instance_counts, iou_interval, pooled_figures
from ml.points import centroid_points, coarse_points


class _Predicts(Protocol):
    def predict(self, image: np.ndarray, points: np.ndarray, **kwargs: Any) -> Any: ...


def make_points(samples: list[Sample], kind: str = "centroid", seed: int = 0) -> list[np.ndarray]:
    """Point prompts for every sample: 'centroid' (floored; a sample's own clicks when it has them: touching
    targets are one component of the mask, whose centroid would prompt neither) or 'coarse' (jittered, fixed
    seed)."""
    if kind == "centroid":
        return [s.points if s.points is not None else centroid_points(s.mask) for s in samples]
    if kind == "coarse":
        rng = np.random.default_rng(seed)
        return [coarse_points(s.mask, rng) for s in samples]
    raise ValueError(f"unknown point kind {kind!r}; choose 'centroid' or 'coarse'")


def evaluate_predictor(
    predictor: _Predicts,
    samples: list[Sample],
    points: str = "centroid",
    seed: int = 0,
    return_masks: bool = False,
    **predict_kwargs: Any,
) -> dict[str, Any]:
    """Score a predictor on samples with GT masks; adds per-image timings (ms) and flag counts."""
    acc = SegmentationMetrics()
    times, masks, per_image, by_target = [], [], [], []
    n_fallback = n_adhesion = 0
    for sample, pts in zip(samples, make_points(samples, points, seed), strict=True):
        t0 = time.perf_counter()
        res = predictor.predict(sample.image, pts, name=sample.id, **predict_kwargs)
        pred = res.union()
        times.append(1000.0 * (time.perf_counter() - t0))
        acc.update(pred, sample.mask)
        n_fallback += sum(res.fallback)
        n_adhesion += sum(res.adhesion)
        inter = int(np.count_nonzero(pred & sample.mask))
        union = int(np.count_nonzero(pred | sample.mask))
        per_image.append(
            {"id": sample.id, "iou": 100.0 * inter / union if union else 100.0, "inter": inter, "union": union}
        )
        if return_masks:
            masks.append(pred)
        if points == "centroid" and sample.instances is not None and sample.points is not None:  # its own clicks
            by_target.append(instance_counts(list(res.masks), sample.instances, pts))
    out: dict[str, Any] = acc.result()
    if by_target:
        figures = pooled_figures(by_target)
        out["per_target"] = {
            "pd": figures["pd"],
            "fat": figures["fat"],
            "n_merged": sum(r["n_merged"] for r in by_target),
            "n_targets": sum(r["n_targets"] for r in by_target),
        }
    out["iou_low"], out["iou_high"] = iou_interval(acc.image_inter, acc.image_union)
    out.update(
        ms_median=float(np.median(times)) if times else 0.0,
        ms_p95=float(np.percentile(times, 95)) if times else 0.0,
        n_fallback=n_fallback,
        n_adhesion=n_adhesion,
        per_image=per_image,
    )
    if return_masks:
        out["masks"] = masks
    return out


def evaluate_dirs(pred_dir: str | Path, gt_dir: str | Path, ids_file: str | Path | None = None) -> dict[str, float]:
    """Score GT masks in `gt_dir` (all, or the ids listed in `ids_file`) against the same-id files in
    `pred_dir`; a missing prediction is an error naming it."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for d in (pred_dir, gt_dir):
        if not d.is_dir():
            raise ValueError(f"directory {d} not found")
    if ids_file is not None:
        if not Path(ids_file).is_file():
            raise ValueError(f"ids file {ids_file} not found")
        ids = [line.strip() for line in Path(ids_file).read_text().splitlines() if line.strip()]
    else:
        ids = list_ids(gt_dir)
    if not ids:
        raise ValueError(f"no masks found in {gt_dir}")
    acc = SegmentationMetrics()
    for image_id in ids:
        gt = read_mask(find_file(gt_dir, image_id))
        pred_path = find_file(pred_dir, image_id)
        pred_raw = read_image(pred_path)
        if pred_raw.shape != gt.shape:
            raise ValueError(f"prediction {pred_path} has size {pred_raw.shape[::-1]}, ground truth {gt.shape[::-1]}")
        acc.update(read_mask(pred_path), gt)
    return acc.result()


def choose_threshold(
    predictor: _Predicts, samples: list[Sample], candidates: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
) -> tuple[float, dict[float, dict[str, Any]]]:
    """Pick the BBM threshold on a selection split: best IoU among Pd-max/Fat-min candidates.

    Ties and near-ties (< 0.2 IoU) go to the value nearest 0.5, the paper's default.
    """
    table = {}
    for t in candidates:
        r = evaluate_predictor(predictor, samples, "centroid", threshold=t)
        table[t] = {k: r[k] for k in ("iou", "pd", "fat", "fa")}
    best_pd = max(v["pd"] for v in table.values())
    ok = [t for t, v in table.items() if v["pd"] == best_pd]
    best_fat = min(table[t]["fat"] for t in ok)
    ok = [t for t in ok if table[t]["fat"] == best_fat]
    top = max(table[t]["iou"] for t in ok)
    near = [t for t in ok if table[t]["iou"] >= top - 0.2]
    return min(near, key=lambda t: abs(t - 0.5)), table
