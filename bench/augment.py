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

Re-release (train side only): every arm and the shipped weights are also scored on the selection split carved from
train and on its dense copies (`ml.synthetic.dense_copies`, the seed of the split). An arm may replace the shipped
weights when, against them, its paired gain on the dense copies has a 95 % interval above 0 and its gain on the
selection frames an interval reaching 0 or above (not surely worse); among such arms the best mean of the two
gains. Val and the proxies are read after that choice and only reported. The `*_sel` arms choose their
checkpoint on the same two sets (`--select-clusters 0.5`), so their train-side figures are in-sample for the
choice of step: the rule is a guard, val is the test.

    python bench/augment.py [--budget 1200] [--arms control cluster photometric both] [--seed 42] [--tag NAME]

Prints one JSON line and writes bench/reports/augment[_NAME].md, .json and .png (selection IoU against training
time). Checkpoints and logs stay under runs/augment/[NAME/] (a rerun re-reads finished arms).
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
    # Judged on the selection frames and their dense copies, half each (ml.synthetic.dense_copies).
    "cluster_sel": ["--cluster-prob", "0.3", "--select-clusters", "0.5"],
    "cluster50_sel": ["--cluster-prob", "0.5", "--select-clusters", "0.5"],
}
SETS = ("val", "dense", "sensor")


def score_arms(data: Path, runs: Path, names: list[str]) -> dict[str, Any]:
    """Cold start, the shipped weights and every released arm on val and its two proxies, with intervals; gains
    over the control arm (over the shipped weights when no control ran)."""
    from bench.quality import proxy_samples, score_frames
    from ml.data import load_samples

    val = load_samples(data, "val")
    frames = {"val": val, **{kind: proxy_samples(kind, val) for kind in SETS[1:]}}
    weights = {"shipped": SHIPPED, **{n: runs / f"{n}_rel.pt" for n in names}}
    control = "control" if "control" in names else "shipped"
    return {kind: score_frames(samples, weights, control=control) for kind, samples in frames.items()}


def judge_train_side(data: Path, runs: Path, names: list[str]) -> dict[str, Any]:
    """Every arm against the shipped weights on the selection split and its dense copies, and the rule's pick."""
    from bench.quality import score_frames
    from ml.checkpoints import read_checkpoint
    from ml.config import TrainConfig
    from ml.data import load_samples
    from ml.synthetic import dense_copies

    ids = set(read_checkpoint(runs / f"{names[0]}_rel.pt")["meta"]["selection_ids"])
    sel = [s for s in load_samples(data, "train") if s.id in ids]
    weights = {"shipped": SHIPPED, **{n: runs / f"{n}_rel.pt" for n in names}}
    res = {
        "selection": score_frames(sel, weights, control="shipped"),
        "selection_dense": score_frames(dense_copies(sel, TrainConfig().select_seed), weights, control="shipped"),
    }
    wins = {}
    for n in names:
        frames, dense = res["selection"][n]["over_control"], res["selection_dense"][n]["over_control"]
        if dense["low"] > 0 and frames["high"] >= 0:
            wins[n] = (frames["gain"] + dense["gain"]) / 2
    res["release"] = max(wins, key=wins.get) if wins else None
    return res


def report_lines(
    res: dict[str, Any], rows: list[dict[str, Any]], budget: float, wall: float, tag: str = ""
) -> list[str]:
    from ml.checkpoints import read_checkpoint

    names = [r["arm"] for r in rows]
    control = "control" if "control" in names else "shipped"
    tag = f" --tag {tag}" if tag else ""
    shipped = read_checkpoint(SHIPPED)["meta"].get("model_version")
    lines = [
        "# Dense clusters and photometric augmentation: gain at equal CPU time",
        "",
        f"Command: `python bench/augment.py --budget {budget:g} --arms {' '.join(names)}{tag}` "
        f"({_arms.wall_text(wall)}; "
        f"training: {len(rows)} arms x {budget:g} s, two at a time, then a release each). "
        "Each arm fine-tunes the shipped weights for the same time (two side by side, one thread each), is "
        "released on the selection split carved from train, and is scored on SIRST val and on the val frames as "
        "the dense and sensor proxies (centroid points, BBM, no TTA); val and the proxies are only reported. The "
        "dense proxy comes from the same cluster generator as the cluster arms' training clusters (on val "
        "backgrounds): a cluster arm's gain there is an upper bound for real dense frames.",
        "",
        f"`shipped` below is `ml/weights/edgsp_small.pt` as it was when this report was written: {shipped}.",
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
        f"targets); gain over the {control} {'arm' if control == 'control' else 'weights'} and over the cold start, "
        "paired:",
        "",
    ]
    for kind in SETS:
        entry = res[kind]
        per_target = "per_target" in entry["coldstart"]
        extra = " per-target Pd / false / merged |" if per_target else ""
        lines += [
            f"**{kind}**",
            "",
            f"| generator | IoU | Pd / Fat |{extra} over {control} | over cold start |",
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
    return lines


def train_side_lines(judged: dict[str, Any], names: list[str]) -> list[str]:
    """The re-release table: each arm against the shipped weights on the train-side sets, and the pick."""
    lines = [
        "## Re-release, judged on train only",
        "",
        "Selection split carved from train (SIRST frames) and the same frames with a dense cluster added "
        "(`ml.synthetic.dense_copies`); IoU [95 % bootstrap], paired gain over the shipped weights. Rule (set before "
        "any run): dense-copy gain interval above 0 and frame gain interval reaching 0 or above.",
        "",
        "| generator | selection frames | over shipped | dense copies | over shipped |",
        "|---|---|---|---|---|",
    ]
    for n in ["coldstart", "shipped", *names]:
        cells = []
        for kind in ("selection", "selection_dense"):
            e = judged[kind][n]
            over = e.get("over_control") if n not in ("coldstart", "shipped") else None
            over_text = f"{over['gain']:+.2f} [{over['low']:+.1f}, {over['high']:+.1f}]" if over else ""
            cells.append(f"{e['iou']:.2f} [{e['iou_low']:.1f}, {e['iou_high']:.1f}] | {over_text}")
        lines.append(f"| {'cold start' if n == 'coldstart' else n} | {' | '.join(cells)} |")
    pick = judged["release"]
    lines += ["", f"Pick: **{pick}**." if pick else "Pick: none; the shipped weights stay.", ""]
    return lines


def main() -> None:
    ap = _arms.base_parser(__doc__)
    ap.set_defaults(budget=1200.0)
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--jobs", type=int, default=2, help="arms trained at once (one core each)")
    ap.add_argument("--tag", default="", help="a named run: runs/augment/TAG/ and bench/reports/augment_TAG.md")
    args = _arms.parse_args(ap)
    t0 = time.monotonic()
    runs, report = (RUNS / args.tag, REPORT.with_stem(f"augment_{args.tag}")) if args.tag else (RUNS, REPORT)
    names = list(args.arms)
    arms = {name: [*FINETUNE, *ARMS[name]] for name in names}
    _arms.train_and_release(args.data, runs, arms, args.seed, args.budget, jobs=args.jobs)
    rows = [{"arm": n, "seed": args.seed, **_arms.arm_summary(runs, n)} for n in names]
    res = score_arms(args.data, runs, names)
    judged = judge_train_side(args.data, runs, names)
    wall = time.monotonic() - t0
    result = {
        "bench": "augment",
        "tag": args.tag,
        "budget_s": args.budget,
        "seed": args.seed,
        "iou": {k: {n: res[k][n]["iou"] for n in res[k]} for k in SETS},
        "over_control": {k: {n: res[k][n].get("over_control") for n in names if n != "control"} for k in SETS},
        "release": judged["release"],
        "wall_s": round(wall, 1),
    }
    lines = [*report_lines(res, rows, args.budget, wall, args.tag), *train_side_lines(judged, names)]
    _arms.write_outputs(
        report, [*lines, f"![selection IoU against training time]({report.with_suffix('.png').name})", ""],
        {**result, "scores": res, "train_side": judged}, rows, names, [n == "control" for n in names],
    )  # fmt: skip


if __name__ == "__main__":
    main()
