"""What ranking a frame for the active claim order costs (labeling.services.ranking: `ml_adapter.frame_uncertainty`
per frame, run by the `rank` job on `batch` workers): the serving generator and the other kind each draw the frame,
on its clicks or, on a frame nobody has clicked, on the detector's candidates.

    python bench/ranking.py [--data /work/shared/data/sirst] [--split val] [--limit 85] [--threads 1]

Prints one JSON line; writes bench/reports/ranking.md. Pairs timed per frame, end to end (detector when used, both
generators, the score): cold start serving against the shipped EDGSP weights (a new project), and the shipped
weights serving against the cold start (after a promotion). CPU, `--threads` torch threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeling.ml_adapter import COLDSTART, EDGSP, GeneratorSpec, frame_uncertainty  # noqa: E402 - after the path
from ml.data import load_samples  # noqa: E402
from ml.points import centroid_points  # noqa: E402

REPORT = ROOT / "bench" / "reports" / "ranking.md"
WEIGHTS = ROOT / "ml" / "weights" / "edgsp_small.pt"


def _time(samples: list, serving: GeneratorSpec, other: GeneratorSpec, clicked: bool) -> dict[str, float]:
    times, scores = [], []
    for s in samples:
        points = centroid_points(s.mask) if clicked else None
        started = time.perf_counter()
        result = frame_uncertainty(s.image, points, serving, other)
        times.append(1000 * (time.perf_counter() - started))
        scores.append(result["score"])
    return {
        "ms_median": round(float(np.median(times)), 1),
        "ms_p95": round(float(np.percentile(times, 95)), 1),
        "frames_per_minute": round(60_000 / float(np.mean(times)), 1),
        "mean_score": round(float(np.mean(scores)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sirst"))
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=85)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", default=str(REPORT))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_samples(args.data, args.split)[: args.limit]
    cold = GeneratorSpec(method=COLDSTART)
    net = GeneratorSpec(method=EDGSP, checkpoint=str(WEIGHTS))
    frame_uncertainty(samples[0].image, None, net, cold)  # load the weights once, outside the timings
    started = time.perf_counter()
    rows = {
        f"{a}_serving_{'clicked' if clicked else 'detector'}": _time(samples, *pair, clicked)
        for a, pair in (("coldstart", (cold, net)), ("edgsp", (net, cold)))
        for clicked in (True, False)
    }
    summary = {
        "bench": "ranking",
        "split": args.split,
        "frames": len(samples),
        "threads": args.threads,
        **rows,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    _write_report(summary, Path(args.report), args)


def _write_report(s: dict, path: Path, args: argparse.Namespace) -> None:
    lines = [
        "# Ranking frames for the active claim order",
        "",
        f"Command: `python bench/ranking.py --split {args.split} --limit {args.limit} --threads {args.threads}` "
        f"({s['wall_s']:.0f} s on this machine, CPU).",
        "",
        f"{s['frames']} SIRST {args.split} frames; per frame, end to end (`ml_adapter.frame_uncertainty`).",
        "",
        "| serving generator | points | ms median | ms p95 | frames a minute per worker | mean score |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in s.items():
        if not isinstance(row, dict):
            continue
        serving, points = key.split("_serving_")
        lines.append(
            f"| {'cold start (EDGSP compared)' if serving == 'coldstart' else 'EDGSP (cold start compared)'} "
            f"| {'the clicks' if points == 'clicked' else 'detector candidates'} | {row['ms_median']} "
            f"| {row['ms_p95']} | {row['frames_per_minute']} | {row['mean_score']} |"
        )
    lines += ["", "Raw JSON line:", "", "```", json.dumps(s), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
