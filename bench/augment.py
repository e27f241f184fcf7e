"""What dense clusters and photometric augmentation in training buy, at equal CPU time (issue 21).

Every arm fine-tunes the shipped weights (`ml/weights/edgsp_small.pt`) on SIRST train with the shipped recipe at a
fine-tune's learning rate, for the same `--budget`, two arms side by side (one core each); they differ only in
`--cluster-prob` (a share of crops given a dense cluster of 2-30 touching synthetic targets, `ml.synthetic`) and
`--photometric-prob` (a share of frames rendered as another sensor would, `ml.photometric`). The `control` arm
fine-tunes as long with neither, so a gain is the augmentation's and not more training's. Each checkpoint is
released with `python -m ml.release` (threshold and TTA chosen on the selection split carved from train) and
scored, centroid points, BBM, no TTA, on SIRST val and on the val frames as the `dense` and `sensor` proxies
(`bench/proxies.py`), each IoU with its 95 % bootstrap interval over frames and each arm's paired gain over the
control and over the cold start.

Caveat: the dense proxy is made by the same cluster generator as the training clusters (on val backgrounds, not
train's), so a cluster arm's gain there is an upper bound on what real dense frames would show.

    python bench/augment.py [--budget 1200] [--arms control cluster photometric both] [--seed 42]

Prints one JSON line and writes bench/reports/augment.md, augment.json and augment.png (selection IoU against
training time). Checkpoints and logs stay under runs/augment/ (a rerun re-reads finished arms).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _arms  # noqa: E402 - after the path tweak

REPORT = ROOT / "bench" / "reports" / "augment.md"
RUNS = ROOT / "runs" / "augment"
SHIPPED = ROOT / "ml" / "weights" / "edgsp_small.pt"
FINETUNE = ["--init", str(SHIPPED), "--lr", "3e-4", "--warmup", "50"]
ARMS = {
    "control": [],
    "cluster": ["--cluster-prob", "0.3"],
    "photometric": ["--photometric-prob", "0.3"],
    "both": ["--cluster-prob", "0.3", "--photometric-prob", "0.3"],
}
SETS = ("val", "dense", "sensor")


def score_arms(data: Path, names: list[str]) -> dict[str, Any]:
    """Cold start, the shipped weights and every released arm on val and its two proxies, with intervals."""
    from bench.quality import proxy_samples, score_frames
    from ml.data import load_samples

    val = load_samples(data, "val")
    frames = {"val": val, **{kind: proxy_samples(kind, val) for kind in SETS[1:]}}
    weights = {"shipped": SHIPPED, **{n: RUNS / f"{n}_rel.pt" for n in names}}
    return {kind: score_frames(samples, weights, control="control") for kind, samples in frames.items()}


def report_lines(res: dict[str, Any], rows: list[dict[str, Any]], budget: float, wall: float) -> list[str]:
    names = [r["arm"] for r in rows]
    lines = [
        "# Dense clusters and photometric augmentation: gain at equal CPU time",
        "",
        f"Command: `python bench/augment.py --budget {budget:g} --arms {' '.join(names)}` ({_arms.wall_text(wall)}; "
        f"training: {len(rows)} arms x {budget:g} s, two at a time, then a release each). "
        "Each arm fine-tunes the shipped weights for the same time (two side by side, one thread each), is "
        "released on the selection split carved from train, and is scored on SIRST val and on the val frames as "
        "the dense and sensor proxies (centroid points, BBM, no TTA); val and the proxies are only reported. The "
        "dense proxy comes from the same cluster generator as the cluster arms' training clusters (on val "
        "backgrounds): a cluster arm's gain there is an upper bound for real dense frames.",
        "",
        "| arm | flags | steps | chosen step | selection IoU |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['arm']} | `{' '.join(ARMS[r['arm']]) or '-'}` | {r['steps']} | {r['chosen_step']} "
            f"| {r['selection_iou']:.2f} |"
        )
    lines += [
        "",
        "IoU [95 % bootstrap over frames], Pd / Fat on the union mask's components (on the dense proxy, where "
        "touching targets form one component, also per target: Pd, false targets (Fat) and masks holding two "
        "targets); gain over the control arm and over the cold start, paired:",
        "",
    ]
    for kind in SETS:
        entry = res[kind]
        per_target = "per_target" in entry["coldstart"]
        extra = " per-target Pd / false / merged |" if per_target else ""
        lines += [
            f"**{kind}**",
            "",
            f"| generator | IoU | Pd / Fat |{extra} over control | over cold start |",
            "|---|---|---|" + ("---|" if per_target else "") + "---|---|",
        ]
        for n in ["coldstart", "shipped", *names]:
            e = entry[n]
            over, g, t = e.get("over_control"), e.get("gain"), e.get("per_target")
            over_text = f"{over['gain']:+.2f} [{over['low']:+.1f}, {over['high']:+.1f}]" if over else ""
            gain_text = f"{g['gain']:+.2f} [{g['low']:+.1f}, {g['high']:+.1f}]" if g else ""
            cells = f" {t['pd']:.2f} / {t['fat']:.2f} / {t['n_merged']} |" if per_target and t else ""
            lines.append(
                f"| {'cold start' if n == 'coldstart' else n} | {e['iou']:.2f} [{e['iou_low']:.1f}, "
                f"{e['iou_high']:.1f}] | {e['pd']:.2f} / {e['fat']:.2f} |{cells} {over_text} | {gain_text} |"
            )
        lines.append("")
    return [*lines, "![selection IoU against training time](augment.png)", ""]


def main() -> None:
    ap = _arms.base_parser(__doc__)
    ap.set_defaults(budget=1200.0)
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--jobs", type=int, default=2, help="arms trained at once (one core each)")
    args = _arms.parse_args(ap)
    t0 = time.monotonic()
    arms = {name: [*FINETUNE, *ARMS[name]] for name in args.arms}
    _arms.train_and_release(args.data, RUNS, arms, args.seed, args.budget, jobs=args.jobs)
    rows = [{"arm": n, "seed": args.seed, **_arms.arm_summary(RUNS, n)} for n in args.arms]
    res = score_arms(args.data, list(args.arms))
    wall = time.monotonic() - t0
    result = {
        "bench": "augment",
        "budget_s": args.budget,
        "seed": args.seed,
        "iou": {k: {n: res[k][n]["iou"] for n in res[k]} for k in SETS},
        "over_control": {k: {n: res[k][n].get("over_control") for n in args.arms if n != "control"} for k in SETS},
        "wall_s": round(wall, 1),
    }
    _arms.write_outputs(
        REPORT, report_lines(res, rows, args.budget, wall), {**result, "scores": res}, rows, list(args.arms),
        [n == "control" for n in args.arms],
    )  # fmt: skip


if __name__ == "__main__":
    main()
