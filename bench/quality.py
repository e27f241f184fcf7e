"""Quality and speed of the shipped EDGSP weights vs the cold start on SIRST val (one JSON line + report).

Every IoU comes with a 95 % bootstrap interval over frames, and each net's gain over the cold start with a paired
one, so that a choice is not made on a 1-point difference that another draw of frames would reverse. Beside val,
the same frames as two proxies of a new team's data (`bench/proxies.py`, built in memory from SIRST val, seed 0):
`dense` (5-30 touching implanted targets per frame, prompted with each target's own point) and `sensor`
(another sensor's 16-bit gain, offset, blur and noise)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ml.checkpoints import read_checkpoint  # noqa: E402
from ml.config import ModelConfig  # noqa: E402
from ml.data import Sample, load_samples  # noqa: E402
from ml.edges import compute_edges  # noqa: E402
from ml.evaluation import evaluate_predictor  # noqa: E402
from ml.inference import ColdStartPredictor, Predictor  # noqa: E402
from ml.inputs import normalise_image  # noqa: E402
from ml.metrics import SegmentationMetrics, iou_gain_interval  # noqa: E402
from ml.models import build_model, count_flops, count_parameters  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "bench" / "reports" / "quality.md"
GRID = REPORT.with_name("quality_worst.png")
KEYS = ("iou", "iou_low", "iou_high", "pd", "fat", "fa", "ms_median", "ms_p95", "n_fallback", "n_adhesion")
PROXIES = ("dense", "sensor")


def result_row(res: dict) -> dict:
    """The figures a report row shows (and per-target counts where the frames hold each target's mask)."""
    row = {k: round(float(res[k]), 3) for k in KEYS}
    if "per_target" in res:  # frames with each target's own mask: targets counted one by one
        t = res["per_target"]
        row["per_target"] = {"pd": round(t["pd"], 3), "fat": round(t["fat"], 3), "n_merged": int(t["n_merged"])}
    return row


def measure_inputs(samples: list) -> dict:
    """Normalisation and edge-operator statistics on frames with masks (no training involved)."""
    out: dict = {}
    for method in ("fixed", "robust"):
        con, mx = [], []
        for s in samples:
            x = normalise_image(s.image, method)
            con.append(float(x[s.mask].mean() - np.median(x[~s.mask])))
            mx.append(float(np.abs(x).max()))
        out[f"norm_{method}"] = {
            "target_contrast_median": round(float(np.median(con)), 3),
            "log_contrast_std": round(float(np.std(np.log(np.maximum(con, 1e-3)))), 3),
            "abs_max_p99": round(float(np.percentile(mx, 99)), 2),
        }
    import cv2

    for kind in ("central", "sobel"):
        aucs = []
        for s in samples:
            e = compute_edges(normalise_image(s.image), kind)
            m8 = s.mask.astype(np.uint8)
            ring = (cv2.dilate(m8, np.ones((3, 3), np.uint8)) - cv2.erode(m8, np.ones((3, 3), np.uint8))) > 0
            far = cv2.dilate(m8, np.ones((15, 15), np.uint8)) == 0
            pos, neg = e[ring], e[far]
            if len(pos) and len(neg):
                # AUC: probability that a target-border pixel has a stronger edge than a background pixel.
                allv = np.concatenate([pos, neg])
                ranks = allv.argsort().argsort() + 1.0
                aucs.append((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
        out[f"edge_{kind}_border_auc"] = round(float(np.mean(aucs)), 4)
    return out


def model_costs(threads: int) -> dict:
    """Params, FLOPs (256^2) and single-image forward time for each size (random weights)."""
    out = {}
    for size in ("small", "base", "large"):
        m = build_model(ModelConfig(size=size)).eval()
        times = {}
        for side in (256, 512):
            x = torch.zeros(1, 3, side, side)
            with torch.no_grad():
                m(x)
                t = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    m(x)
                    t.append(time.perf_counter() - t0)
            times[f"forward_ms_{side}"] = round(1000 * float(np.median(t)), 1)
        out[size] = {"params": count_parameters(m), "gflops_256": round(count_flops(m) / 1e9, 3), **times}
    out["threads"] = threads
    return out


def worst_grid(samples, pred_masks, cold_masks, per_image, path: Path, n: int = 8) -> list[str]:
    """PNG grid of the n val frames with the lowest IoU: image crop, GT, EDGSP, cold start."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(range(len(per_image)), key=lambda i: per_image[i]["iou"])[:n]
    fig, axes = plt.subplots(len(order), 4, figsize=(8, 2 * len(order)))
    for row, i in enumerate(order):
        s = samples[i]
        # Centre on the largest blob of disagreement between prediction and GT.
        n, lab, stats, cents = cv2.connectedComponentsWithStats((s.mask ^ pred_masks[i]).astype(np.uint8), 8)
        if n > 1:
            cx, cy = (int(v) for v in cents[1 + int(np.argmax(stats[1:, 4]))])
        else:
            cy, cx = s.mask.shape[0] // 2, s.mask.shape[1] // 2
        y0, x0 = max(0, cy - 24), max(0, cx - 24)
        sl = (slice(y0, y0 + 48), slice(x0, x0 + 48))
        panels = [s.image, s.mask, pred_masks[i], cold_masks[i]]
        titles = [f"{s.id}", "GT", f"EDGSP {per_image[i]['iou']:.0f}", "cold start"]
        for col, (img, title) in enumerate(zip(panels, titles, strict=True)):
            ax = axes[row, col]
            ax.imshow(img[sl], cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [samples[i].id for i in order]


def proxy_samples(kind: str, samples: list[Sample], seed: int = 0) -> list[Sample]:
    """The frames as `bench/proxies.py` builds them (same rng per frame id), union masks, each target's point."""
    from bench.proxies import WIDE_RADIUS, build_frame

    out = []
    for s in samples:
        image, instances, points, _ = build_frame(kind, s.image, s.mask, s.id, seed, WIDE_RADIUS)
        union = np.zeros(s.mask.shape, bool)
        for m in instances:
            union |= m
        out.append(Sample(s.id, image, union, points, list(instances)))
    return out


def _accumulator(per_image: list[dict]) -> SegmentationMetrics:
    """An accumulator holding only the per-frame counts the paired bootstrap reads."""
    return SegmentationMetrics(image_inter=[r["inter"] for r in per_image], image_union=[r["union"] for r in per_image])


def gain_over_coldstart(per_image: list[dict], cold_per_image: list[dict]) -> dict:
    """A net's pooled-IoU gain over the cold start on the same frames, with its 95 % paired-bootstrap interval."""
    gain, low, high = iou_gain_interval(_accumulator(per_image), _accumulator(cold_per_image))
    return {"gain": round(gain, 2), "low": round(low, 2), "high": round(high, 2)}


def score_frames(frames: list[Sample], weights: dict[str, Path], control: str | None = None) -> dict:
    """Cold start and each named net (centroid clicks, BBM, no TTA) on `frames`: rows with intervals, each net's
    paired gain over the cold start and, when `control` names one of the nets, over that net."""
    cold = evaluate_predictor(ColdStartPredictor(), frames, "centroid")
    runs = {n: evaluate_predictor(Predictor.load(w, device="cpu"), frames, "centroid", tta=False)
            for n, w in weights.items()}  # fmt: skip
    entry: dict = {"coldstart": result_row(cold)}
    for n, r in runs.items():
        entry[n] = {**result_row(r), "gain": gain_over_coldstart(r["per_image"], cold["per_image"])}
        if control in runs and n != control:
            entry[n]["over_control"] = gain_over_coldstart(r["per_image"], runs[control]["per_image"])
    return entry


def score_proxies(samples: list[Sample], weights: list[Path]) -> dict:
    """Cold start and each net (centroid clicks, BBM, no TTA) on each proxy of `samples`."""
    out: dict = {}
    for kind in PROXIES:
        frames = proxy_samples(kind, samples)
        out[kind] = {
            "n_images": len(frames),
            "n_targets": sum(len(f.points) for f in frames),
            **score_frames(frames, {w.stem: w for w in weights}),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="/work/shared/data/sirst")
    ap.add_argument("--split", default="val")
    ap.add_argument("--weights", nargs="*", default=None, help="checkpoints (default: ml/weights/*.pt)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-tta", action="store_true")
    ap.add_argument("--report", default=str(REPORT))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.time()
    samples = load_samples(args.data, args.split)
    weights = [Path(w) for w in args.weights] if args.weights else sorted((ROOT / "ml" / "weights").glob("*.pt"))
    results: dict = {"split": args.split, "n_images": len(samples), "threads": args.threads, "methods": {}}
    cold = ColdStartPredictor()
    cold_masks, cold_per_image = None, None
    for pts in ("centroid", "coarse"):
        r = evaluate_predictor(cold, samples, pts, return_masks=pts == "centroid")
        if pts == "centroid":
            cold_masks, cold_per_image = r["masks"], r["per_image"]
        results["methods"].setdefault("coldstart", {})[f"{pts}_bbm"] = result_row(r)
    grid_ids: list[str] = []
    for w in weights:
        pred = Predictor.load(w, device="cpu")
        name = w.stem
        entry: dict = {
            "version": pred.version,
            "size": pred.config.size,
            "prior": pred.config.prior,
            "threshold": pred.threshold,
            "default_tta": pred.tta,
        }
        for pts in ("centroid", "coarse"):
            for bbm in (True, False):
                r = evaluate_predictor(pred, samples, pts, bbm=bbm, tta=False, return_masks=True)
                entry[f"{pts}_{'bbm' if bbm else 'raw'}"] = result_row(r)
                if pts == "centroid" and bbm:
                    entry["gain"] = gain_over_coldstart(r["per_image"], cold_per_image)
                    if w == weights[0]:
                        grid_ids = worst_grid(samples, r["masks"], cold_masks, r["per_image"], GRID)
        if not args.no_tta:
            for pts in ("centroid", "coarse"):
                entry[f"{pts}_bbm_tta"] = result_row(evaluate_predictor(pred, samples, pts, tta=True))
        meta = read_checkpoint(w)["meta"]
        entry["selection_metrics"] = meta.get("selection_metrics")
        entry["chosen_step"] = meta.get("chosen_step")
        results["methods"][name] = entry
    results["proxies"] = score_proxies(samples, weights)
    results["costs"] = model_costs(args.threads)
    results["inputs"] = measure_inputs(load_samples(args.data, "train"))
    results["worst_ids"] = grid_ids
    results["wall_s"] = round(time.time() - t_start, 1)
    write_report(results, Path(args.report))
    print(json.dumps(results))


def _iou(r: dict) -> str:
    return f"{r['iou']:.2f} [{r['iou_low']:.1f}, {r['iou_high']:.1f}]"


def _gain(g: dict) -> str:
    return f"{g['gain']:+.2f} [{g['low']:+.1f}, {g['high']:+.1f}]"


def _gain_and_proxy_lines(res: dict) -> list[str]:
    """Each net's gain over the cold start on val and on the proxies, then the proxies' own table."""
    nets = [n for n in res["methods"] if n != "coldstart"]
    lines = ["", "## Gain over the cold start (centroid clicks, BBM, no TTA; 95 % paired-bootstrap interval)", ""]
    lines += ["| net | val | " + " | ".join(f"{k} proxy" for k in res["proxies"]) + " |"]
    lines += ["|---|---|" + "---|" * len(res["proxies"])]
    for net in nets:
        cells = [_gain(res["methods"][net]["gain"])] + [_gain(p[net]["gain"]) for p in res["proxies"].values()]
        lines.append(f"| {net} | " + " | ".join(cells) + " |")
    lines += ["", "A net beats the cold start on a set only where the interval lies above 0.", ""]
    lines += ["## Proxies of a new team's data (the val frames rebuilt by `bench/proxies.py`, seed 0)", ""]
    lines += [
        "Pd and Fat count the union's components (the benchmarks' rule), where a touching cluster is one target "
        "and each split instance in it a false one; *per target* pairs each click's mask with its target's own "
        "(ml.metrics.instance_counts): Pd, false targets per target (%), and masks that swallowed another target's "
        "point (merged).",
        "",
        "| proxy | frames | targets | method | IoU [95 % interval] | Pd | Fat | Pd per target | Fat per target "
        "| merged | fallback | adhesion |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, entry in res["proxies"].items():
        for name in ["coldstart", *nets]:
            r = entry[name]
            t = r.get("per_target", {"pd": float("nan"), "fat": float("nan"), "n_merged": "–"})
            lines.append(
                f"| {kind} | {entry['n_images']} | {entry['n_targets']} | {name} | {_iou(r)} | {r['pd']:.2f} "
                f"| {r['fat']:.2f} | {t['pd']:.2f} | {t['fat']:.2f} | {t['n_merged']} | {r['n_fallback']} "
                f"| {r['n_adhesion']} |"
            )
    return lines


def write_report(res: dict, path: Path) -> None:
    """Markdown tables of every measured figure."""
    lines = [
        "# EDGSP quality and speed on SIRST val",
        "",
        f"Written by `python bench/quality.py` ({res['n_images']} {res['split']} images, CPU, "
        f"{res['threads']} torch thread(s), wall {res['wall_s']} s). IoU/Pd/Fat in %, Fa in 1e-6; "
        "times are per image end to end (normalise, cold-start prior, net, BBM), median and p95 in ms. "
        "No GPU on this machine: GPU timings are not measured.",
        "",
        "| method | points | BBM | TTA | IoU [95 %] | Pd | Fat | Fa | ms median | ms p95 | fallback | adhesion |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in res["methods"].items():
        for key, r in entry.items():
            if not isinstance(r, dict) or "iou" not in r or key in ("selection_metrics", "gain"):
                continue
            pts, mode = key.split("_")[0], key.split("_", 1)[1]
            bbm = "n/a" if name == "coldstart" else ("yes" if "bbm" in mode else "no")
            tta = "yes" if mode.endswith("tta") else "no"
            lines.append(
                f"| {name} | {pts} | {bbm} | {tta} | {_iou(r)} | {r['pd']:.2f} | {r['fat']:.2f} | {r['fa']:.2f} "
                f"| {r['ms_median']:.1f} | {r['ms_p95']:.1f} | {r['n_fallback']} | {r['n_adhesion']} |"
            )
    lines += _gain_and_proxy_lines(res)
    lines += [
        "",
        "## Model sizes (random weights, forward only, batch 1)",
        "",
        "| size | params | GFLOPs @256² | forward ms 256² | forward ms 512² |",
        "|---|---|---|---|---|",
    ]
    for size in ("small", "base", "large"):
        c = res["costs"][size]
        cells = [f"{c['params']:,}", c["gflops_256"], c["forward_ms_256"], c["forward_ms_512"]]
        lines.append(f"| {size} | " + " | ".join(str(v) for v in cells) + " |")
    inp = res["inputs"]
    lines += [
        "",
        "## Input measurements (SIRST train, no training involved)",
        "",
        "| normalisation | target contrast (median) | std of log contrast | p99 of max abs value |",
        "|---|---|---|---|",
    ]
    for m in ("fixed", "robust"):
        d = inp[f"norm_{m}"]
        lines.append(f"| {m} | {d['target_contrast_median']} | {d['log_contrast_std']} | {d['abs_max_p99']} |")
    lines += [
        "",
        f"Edge operators, AUC of target-border pixels against background pixels (≥ 7 px from any target): "
        f"central differences {inp['edge_central_border_auc']}, Sobel {inp['edge_sobel_border_auc']}.",
        "",
        f"Worst val frames for the first model (centroid, BBM): {', '.join(res['worst_ids'])} — "
        f"grid in `{GRID.name}` (image, GT, EDGSP, cold start; 48 px crops).",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
