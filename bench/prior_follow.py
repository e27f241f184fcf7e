"""Does calibrating the prior help EDGSP once the net follows it? SIRST val drawn wider, scored three ways.

A project whose annotators draw wider masks than SIRST calibrates the cold start's alpha on its confirmed
masks (the app does this). The question is whether EDGSP can follow: its prior channel is the cold start, and
`Predictor.with_coldstart({"alpha": a})` puts that prior at the project's alpha. Stand-ins for another team's
style: SIRST's own masks with every target dilated by 1 and by 2 px (`ml.styles.restyle_mask`, targets never
merged), plus the masks as they are. For each, on SIRST val (centroid points of those masks, BBM, pooled
IoU / Pd / Fat):

    (a) the cold start at its default alpha vs at the calibrated alpha
    (b) the shipped weights with the default prior vs the prior at the calibrated alpha
    (c) weights fine-tuned from the shipped ones with `--prior-style-prob 0.5` (the net learns to follow the
        prior's width), default vs calibrated prior; the same with 0.25; and without styles, as a control

Every alpha is chosen on SIRST **train** with the same dilation (`ml.calibration.calibrate_alpha`, the app's
wide grid, alpha only); val is only reported. The fine-tunes run one at a time, 1 thread, for `--budget`
seconds each, and are released with `python -m ml.release` (threshold chosen on the selection split of train).

    python bench/prior_follow.py                       # trains what runs/prior_follow/ lacks (3 x 2400 s), scores
    python bench/prior_follow.py --arms style --budget 2400
    python bench/prior_follow.py --score gpu=runs/gpu/edgsp_small_style_rel.pt   # add a checkpoint made elsewhere

Prints one JSON line; writes bench/reports/prior_follow.md and prior_follow.json.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _arms  # noqa: E402 - after the path tweak
from ml.calibration import WIDE_GRID, calibrate_alpha  # noqa: E402
from ml.checkpoints import read_checkpoint  # noqa: E402
from ml.coldstart import ColdStartParams  # noqa: E402
from ml.data import Sample, load_samples  # noqa: E402
from ml.evaluation import evaluate_predictor  # noqa: E402
from ml.inference import DEFAULT_WEIGHTS, ColdStartPredictor, Predictor  # noqa: E402
from ml.metrics import paired_gain_test  # noqa: E402
from ml.points import centroid_points  # noqa: E402
from ml.prior import coldstart_params_to_dict  # noqa: E402
from ml.styles import restyle_mask  # noqa: E402

REPORT = ROOT / "bench" / "reports" / "prior_follow.md"
RUNS = ROOT / "runs" / "prior_follow"
DILATIONS = (0, 1, 2)
SHIPPED = DEFAULT_WEIGHTS.relative_to(ROOT)
FINETUNE = ["--init", str(SHIPPED), "--lr", "3e-4", "--warmup", "50"]
ARMS = {"style": ["--prior-style-prob", "0.5"], "style25": ["--prior-style-prob", "0.25"], "plain": []}


def arm_flags(name: str, seed: int) -> list[str]:
    """Flags beyond the shipped recipe for one fine-tune (a resumable state beside its checkpoint)."""
    return [*FINETUNE, *ARMS[name], "--state", str(RUNS.relative_to(ROOT) / f"{name}_s{seed}.state.pt")]


def restyled(samples: list[Sample], d: int) -> list[Sample]:
    return [Sample(s.id, s.image, restyle_mask(s.mask, d)) for s in samples]


def calibrated_alpha(train: list[Sample]) -> float:
    """The cold-start alpha whose masks best match these labels (pooled IoU), as a project's calibration picks it."""
    data = [(s.image, centroid_points(s.mask), s.mask) for s in train]
    return float(calibrate_alpha(data, grid=WIDE_GRID, compare_grabcut=False).best_alpha)


def score(predictor: Any, val: list[Sample]) -> dict[str, Any]:
    """Pooled figures and per-frame intersections/unions (for the paired test)."""
    r = evaluate_predictor(predictor, val, "centroid", return_masks=True)
    inter = [int(np.count_nonzero(m & s.mask)) for m, s in zip(r["masks"], val, strict=True)]
    union = [int(np.count_nonzero(m | s.mask)) for m, s in zip(r["masks"], val, strict=True)]
    return {**{k: round(float(r[k]), 2) for k in ("iou", "pd", "fat")}, "inter": inter, "union": union}


def gain(calibrated: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    t = paired_gain_test(calibrated["inter"], calibrated["union"], default["inter"], default["union"])
    return {"gain": round(float(t["gain"]), 2), "p_value": round(float(t["p_value"]), 4), "wins": t["wins"],
            "losses": t["losses"]}  # fmt: skip


def predictors(seed: int, arms: list[str], extra: dict[str, Path]) -> dict[str, Any]:
    """Name -> (predictor at the default prior, function alpha -> predictor with the prior at alpha)."""
    base = ColdStartParams()

    def cold(alpha: float) -> ColdStartPredictor:
        return ColdStartPredictor(coldstart_params_to_dict(dataclasses.replace(base, alpha=alpha)))

    out: dict[str, Any] = {"cold start": (ColdStartPredictor(coldstart_params_to_dict(base)), cold)}
    nets = {"shipped weights": DEFAULT_WEIGHTS, **{f"fine-tune {a}": RUNS / f"{a}_s{seed}_rel.pt" for a in arms}}
    nets.update(extra)
    for name, path in nets.items():
        p = Predictor.load(path, device="cpu")
        out[name] = (p, lambda a, p=p: p.with_coldstart({"alpha": a}))
    return out


def measure(
    data: Path, seed: int, arms: list[str], extra: dict[str, Path]
) -> tuple[list[dict[str, Any]], dict[int, float]]:
    train, val = load_samples(data, "train"), load_samples(data, "val")
    preds = predictors(seed, arms, extra)
    rows, alphas = [], {}
    for d in DILATIONS:
        alphas[d] = calibrated_alpha(restyled(train, d))
        val_d = restyled(val, d)
        for name, (default_p, at_alpha) in preds.items():
            dflt, cal = score(default_p, val_d), score(at_alpha(alphas[d]), val_d)
            rows.append({"dilation": d, "alpha": alphas[d], "method": name, "default": dflt, "calibrated": cal,
                         "test": gain(cal, dflt)})  # fmt: skip
            print(f"dilation {d} alpha {alphas[d]} {name}: {dflt['iou']} -> {cal['iou']}", flush=True)
    return rows, alphas


def arm_info(seed: int, arms: list[str]) -> list[dict[str, Any]]:
    out = []
    for a in arms:
        s = _arms.arm_summary(RUNS, f"{a}_s{seed}")
        meta = read_checkpoint(RUNS / f"{a}_s{seed}.pt")["meta"]
        sel = meta["selection_metrics"]
        out.append({"arm": a, "flags": " ".join(arm_flags(a, seed)), "steps": s["steps"],
                    "chosen_step": s["chosen_step"], "selection_iou": s["selection_iou"],
                    "selection_default": round(float(sel.get("iou_default_prior", sel["iou"])), 2),
                    "selection_by_style": {k: round(float(v), 2) for k, v in sel.get("iou_by_style", {}).items()},
                    "style_alphas": meta.get("prior_style_alphas")})  # fmt: skip
    return out


def findings(rows: list[dict[str, Any]]) -> list[str]:
    """One line per dilation (who wins with the calibrated prior) and one per fine-tune (its cost at +0 px)."""
    out = []
    at = {(r["dilation"], r["method"]): r for r in rows}
    for d in sorted({r["dilation"] for r in rows} - {0}):
        mine = [r for r in rows if r["dilation"] == d]
        best = max(mine, key=lambda r: r["calibrated"]["iou"])
        cold = at[(d, "cold start")]["calibrated"]
        out.append(f"- +{d} px: best with the calibrated prior is {best['method']} at {_cell(best['calibrated'])} "
                   f"(IoU / Pd / Fat); the calibrated cold start reaches {_cell(cold)}, the shipped weights "
                   f"{at[(d, 'shipped weights')]['calibrated']['iou']:.2f}.")  # fmt: skip
    shipped = at[(0, "shipped weights")]["default"]["iou"]
    for r in rows:
        if r["dilation"] == 0 and r["method"] not in ("cold start", "shipped weights"):
            iou = r["default"]["iou"]
            out.append(f"- SIRST's own style (+0 px): {r['method']} {iou:.2f} vs the shipped weights {shipped:.2f} "
                       f"({iou - shipped:+.2f}).")  # fmt: skip
    return out


def _cell(m: dict[str, Any]) -> str:
    return f"{m['iou']:.2f} / {m['pd']:.1f} / {m['fat']:.1f}"


def report_lines(
    rows: list[dict[str, Any]], info: list[dict[str, Any]], args: Any, budget: float, wall: float
) -> list[str]:
    cmd = f"python bench/prior_follow.py --budget {budget:g} --seed {args.seed} --arms {' '.join(args.arms)}"
    cmd += f" --score {' '.join(args.score)}" if args.score else ""
    lines = [
        "# Prior-following EDGSP: does a calibrated prior steer it to another annotation style?",
        "",
        f"Command: `{cmd}` ({_arms.wall_text(wall)}). SIRST val ({args.val_size}) with every target "
        "dilated by 0, 1 or 2 px (`ml.styles.restyle_mask`: per target, never merging two) stands in for a team "
        "that draws wider than SIRST. Centroid points of those masks, BBM, pooled IoU / Pd / Fat (%). The "
        "calibrated alpha is chosen on SIRST **train** restyled the same way (cold-start calibration, "
        "`ml.calibration.WIDE_GRID`, alpha only, GrabCut off as in the prior); val is only reported. "
        "'Default' = the checkpoint's own prior (alpha 0.35); 'calibrated' = `Predictor.with_coldstart({'alpha': "
        "a})` (for the cold start: the same settings at alpha a). Gain = calibrated minus default IoU; p = paired "
        "sign-flip test over frames (`ml.metrics.paired_gain_test`), wins/losses = frames where calibrated is "
        "better/worse.",
        "",
        "| val masks | alpha (train) | method | default IoU / Pd / Fat | calibrated IoU / Pd / Fat | gain | p | "
        "wins / losses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["test"]
        lines.append(
            f"| +{r['dilation']} px | {r['alpha']:.2f} | {r['method']} | {_cell(r['default'])} | "
            f"{_cell(r['calibrated'])} | {t['gain']:+.2f} | {t['p_value']:.3f} | {t['wins']} / {t['losses']} |"
        )
    lines += ["", "Reading:", "", *findings(rows), "",
              "Fine-tunes (from the shipped weights, the shipped recipe plus the flags shown, "
              f"{budget:g} s each, 1 thread, one at a time; arms already finished under runs/prior_follow/ are "
              "reused, so this invocation's wall time counts only what it trained). A prior-following run selects "
              "on its style mix (`ml.train._score`): its selection IoU weighs the default prior by 1 - p and the "
              "mean of its styles by p, so it is not comparable with the control's; the next two columns split it. "
              "Each arm ran `python -m ml train --data <sirst> --out runs/prior_follow/<arm>_s42.pt "
              f"{' '.join(_arms.RECIPE)} --time-budget {budget:g} --seed 42 <flags>`, then `python -m ml.release "
              "--checkpoint runs/prior_follow/<arm>_s42.pt --data <sirst> --out runs/prior_follow/<arm>_s42_rel.pt`.",
              "",
              "| arm | flags | steps | chosen step | selection IoU | at the default prior | by style (at its alpha) "
              "| style -> alpha table (train) |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for i in info:
        table = ", ".join(f"{k} {v:.2f}" for k, v in (i["style_alphas"] or {}).items()) or "—"
        by = ", ".join(f"{k} {v:.2f}" for k, v in i["selection_by_style"].items()) or "—"
        lines.append(f"| {i['arm']} | `{i['flags']}` | {i['steps']} | {i['chosen_step']} | "
                     f"{i['selection_iou']:.2f} | {i['selection_default']:.2f} | {by} | {table} |")  # fmt: skip
    return [*lines, ""]


def main() -> None:
    ap = _arms.base_parser(__doc__)
    ap.set_defaults(budget=2400.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=list(ARMS))
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from prior_follow.json")
    ap.add_argument(
        "--score", nargs="*", default=[], metavar="NAME=CHECKPOINT",
        help="also score these released checkpoints (e.g. a GPU run's), named NAME in the tables",
    )  # fmt: skip
    args = _arms.parse_args(ap)
    t0 = time.monotonic()
    if args.report_only:
        saved = json.loads(REPORT.with_suffix(".json").read_text())
        args.val_size = saved["val_size"]
        info = arm_info(args.seed, args.arms)
        REPORT.write_text("\n".join(report_lines(saved["rows"], info, args, saved["budget_s"], saved["wall_s"])))
        return
    _arms.train_and_release(
        args.data, RUNS, {f"{a}_s{args.seed}": arm_flags(a, args.seed) for a in args.arms}, args.seed, args.budget,
        jobs=1,
    )  # fmt: skip
    extra = {k: Path(v) for k, v in (item.split("=", 1) for item in args.score)}
    rows, alphas = measure(args.data, args.seed, args.arms, extra)
    val = load_samples(args.data, "val")
    args.val_size = f"{len(val)} frames, {sum(len(centroid_points(s.mask)) for s in val)} targets"
    info = arm_info(args.seed, args.arms)
    wall = time.monotonic() - t0
    REPORT.write_text("\n".join(report_lines(rows, info, args, args.budget, wall)))
    slim = [{**r, **{k: {m: r[k][m] for m in ("iou", "pd", "fat")} for k in ("default", "calibrated")}} for r in rows]
    result = {"bench": "prior_follow", "budget_s": args.budget, "seed": args.seed, "alphas": alphas, "rows": slim,
              "val_size": args.val_size, "wall_s": wall}  # fmt: skip
    REPORT.with_suffix(".json").write_text(json.dumps({**result, "arms": info}, indent=1) + "\n")
    print(
        json.dumps(
            {
                "bench": "prior_follow",
                "iou": {f"+{r['dilation']} {r['method']}": [r["default"]["iou"], r["calibrated"]["iou"]] for r in rows},
            }
        )
    )


if __name__ == "__main__":
    main()
