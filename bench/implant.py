"""What implanting synthetic targets into real training frames gains, at equal CPU time.

For every seed, the shipped recipe (`python -m ml train`, small net, 112-px target crops, 1 thread) is trained
once per implant share (`--implant-prob`, default 0 and 0.5) with the same `--time-budget`; the arms of one seed
run side by side, one core each, so they share the machine's load equally. Each checkpoint then goes through
`python -m ml.release` (threshold/TTA chosen on the selection split carved from train) and is scored on SIRST
val, centroid and coarse points, against the cold start. Val is only reported, never used to choose.

    python bench/implant.py                               # 2 seeds x 2 arms x 1800 s: 61 min on 2 cores
    python bench/implant.py --budget 600 --seeds 42       # a quick look (~12 min)

Prints one JSON line and writes bench/reports/implant.md, implant.json and implant.png (selection IoU
against training time, one line per run). Checkpoints and logs stay under runs/implant/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _arms  # noqa: E402 - after the path tweak

REPORT = ROOT / "bench" / "reports" / "implant.md"
RUNS = ROOT / "runs" / "implant"


def _arm_name(prob: float, seed: int) -> str:
    return f"p{prob:g}_s{seed}"


def run_seed(data: Path, probs: list[float], seed: int, budget: float) -> None:
    """Train then release every implant share of one seed; skips what is already on disk (reruns resume)."""
    arms = {_arm_name(p, seed): ["--implant-prob", str(p)] for p in probs}
    _arms.train_and_release(data, RUNS, arms, seed, budget)


def summarise(rows: list[dict[str, Any]], probs: list[float]) -> dict[str, Any]:
    return {f"{p:g}": _arms.mean_of([r for r in rows if r["implant_prob"] == p]) for p in probs}


def report_lines(
    rows: list[dict[str, Any]], summary: dict[str, Any], args: argparse.Namespace, wall: float
) -> list[str]:
    lines = [
        "# Implanted synthetic targets: gain at equal CPU time",
        "",
        f"Command: `python bench/implant.py --budget {args.budget:g} --seeds {' '.join(map(str, args.seeds))} "
        f"--probs {' '.join(f'{p:g}' for p in args.probs)}` ({_arms.wall_text(wall)}). "
        "Arms of one seed trained side by side, one thread each, with the same time budget; each checkpoint "
        "released with `python -m ml.release` (threshold and TTA chosen on the 38-frame selection split from "
        "train); val (85 frames) reported only.",
        "",
    ]
    leads = [[f"{r['implant_prob']:g}"] for r in rows]
    return lines + _arms.report_tables(["implant share"], leads, rows, summary, "implant.png")


def main() -> None:
    ap = _arms.base_parser(__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    ap.add_argument("--probs", type=float, nargs="+", default=[0.0, 0.5])
    args = _arms.parse_args(ap)
    t0 = time.monotonic()
    for seed in args.seeds:
        run_seed(args.data, args.probs, seed, args.budget)
    rows = [
        {"implant_prob": p, "seed": s, **_arms.arm_summary(RUNS, _arm_name(p, s))}
        for s in args.seeds
        for p in args.probs
    ]
    summary = summarise(rows, args.probs)
    wall = time.monotonic() - t0
    labels = [f"implant {r['implant_prob']:g}, seed {r['seed']}" for r in rows]
    result = {"bench": "implant", "budget_s": args.budget, "seeds": args.seeds, "by_share": summary}
    _arms.write_outputs(
        REPORT, report_lines(rows, summary, args, wall), result, rows, labels, [r["implant_prob"] == 0 for r in rows]
    )


if __name__ == "__main__":
    main()
