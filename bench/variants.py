"""The issue's recipe variants at equal CPU time: what the paper's recipe, target crops and the prior are worth.

Arms (each the shipped recipe's `python -m ml train` plus the flags shown, same `--time-budget`, 1 thread):

    recipe    the shipped recipe: 112-px target-centred crops, cold-start prior channel
    noprior   the same without the prior channel (--no-prior)
    paper     the paper's recipe: 256-px positive-biased crops, no prior (--crop-mode paper --crop-size 256 --no-prior)

Each checkpoint goes through `python -m ml.release` (threshold/TTA chosen on the selection split carved from
train) and is scored on SIRST val, centroid and coarse points, next to the cold start; val is only
reported. Arms train `--jobs` at a time (default 2, one per core), so each shares the machine with one other
single-thread run.

    python bench/variants.py                      # 3 arms x 1800 s, seed 42: ~70 min on 2 cores
    python bench/variants.py --arms paper recipe --budget 600

Prints one JSON line and writes bench/reports/variants.md, variants.json and variants.png. Checkpoints and
logs stay under runs/variants/; what is there already is reused (a rerun resumes).
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

REPORT = ROOT / "bench" / "reports" / "variants.md"
RUNS = ROOT / "runs" / "variants"
ARMS = {
    "recipe": [],
    "noprior": ["--no-prior"],
    "paper": ["--crop-mode", "paper", "--crop-size", "256", "--no-prior"],
}


def report_lines(
    rows: list[dict[str, Any]], summary: dict[str, Any], args: argparse.Namespace, wall: float
) -> list[str]:
    lines = [
        "# Recipe variants at equal CPU time",
        "",
        f"Command: `python bench/variants.py --budget {args.budget:g} --seeds {' '.join(map(str, args.seeds))} "
        f"--arms {' '.join(args.arms)}` ({_arms.wall_text(wall)}). Same `--time-budget` per "
        "run, 1 thread, each run sharing the 2-core machine with one other single-thread run; each checkpoint "
        "released with `python -m ml.release` (threshold and TTA chosen on the 38-frame selection split from "
        "train); val (85 frames, 97 targets) reported only.",
        "",
    ]
    leads = [[r["arm"], f"`{' '.join(ARMS[r['arm']]) or '—'}`"] for r in rows]
    return lines + _arms.report_tables(["arm", "flags beyond the shipped recipe"], leads, rows, summary, "variants.png")


def main() -> None:
    ap = _arms.base_parser(__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=list(ARMS))
    ap.add_argument("--jobs", type=int, default=2, help="runs trained at once (one thread each)")
    args = _arms.parse_args(ap)
    t0 = time.monotonic()
    for seed in args.seeds:
        arms = {f"{a}_s{seed}": ARMS[a] for a in args.arms}
        _arms.train_and_release(args.data, RUNS, arms, seed, args.budget, jobs=args.jobs)
    rows = [{"arm": a, "seed": s, **_arms.arm_summary(RUNS, f"{a}_s{s}")} for s in args.seeds for a in args.arms]
    summary = {a: _arms.mean_of([r for r in rows if r["arm"] == a]) for a in args.arms}
    wall = time.monotonic() - t0
    labels = [f"{r['arm']}, seed {r['seed']}" for r in rows]
    result = {"bench": "variants", "budget_s": args.budget, "seeds": args.seeds, "by_arm": summary}
    _arms.write_outputs(
        REPORT, report_lines(rows, summary, args, wall), result, rows, labels, [r["arm"] != "recipe" for r in rows]
    )


if __name__ == "__main__":
    main()
