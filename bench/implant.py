"""What implanting synthetic targets into real training frames gains, at equal CPU time.

For every seed, the shipped recipe (`python -m ml train`, small net, 112-px target crops, 1 thread) is trained
once per implant share (`--implant-prob`, default 0 and 0.5) with the same `--time-budget`; the arms of one seed
run side by side, one core each, so they share the machine's load equally. Each checkpoint then goes through
`python -m ml.release` (threshold/TTA chosen on the selection split carved from train) and is scored on SIRST
val, centroid and coarse points, against the cold start. Val is only reported, never used to choose.

    python bench/implant.py                               # 2 seeds x 2 arms x 1800 s: ~70 min on 2 cores
    python bench/implant.py --budget 600 --seeds 42       # a quick look (~12 min)

Prints one JSON line and writes bench/reports/implant.md, implant.json and implant.png (selection IoU
against training time, one line per run). Checkpoints and logs stay under runs/implant/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPORT = ROOT / "bench" / "reports" / "implant.md"
RUNS = ROOT / "runs" / "implant"


def _train_cmd(data: Path, out: Path, prob: float, seed: int, budget: float) -> list[str]:
    return [
        sys.executable, "-m", "ml", "train", "--data", str(data), "--out", str(out), "--size", "small",
        "--crop-mode", "target", "--crop-size", "112", "--batch-size", "16", "--time-budget", str(budget),
        "--max-steps", "400000", "--eval-every", "250", "--coarse-prob", "0.5", "--threads", "1",
        "--seed", str(seed), "--implant-prob", str(prob),
    ]  # fmt: skip


def _run_parallel(cmds: list[tuple[list[str], Path]]) -> None:
    """Run the commands at once, one torch/OpenMP thread each, and fail naming the log of any that failed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGSP_TORCH_THREADS": "1"}
    procs = []
    for cmd, log in cmds:
        with log.open("w") as fh:
            procs.append((subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT), log))
    failed = [str(log) for p, log in procs if p.wait() != 0]
    if failed:
        raise SystemExit(f"failed, see {', '.join(failed)}")


def _arm_name(prob: float, seed: int) -> str:
    return f"p{prob:g}_s{seed}"


def run_arm_pair(data: Path, probs: list[float], seed: int, budget: float) -> None:
    """Train then release every implant share of one seed; skips what is already on disk (reruns resume)."""
    train = []
    for p in probs:
        raw = RUNS / f"{_arm_name(p, seed)}.pt"
        if not raw.is_file():
            train.append((_train_cmd(data, raw, p, seed, budget), RUNS / f"{_arm_name(p, seed)}.train.log"))
    if train:
        print(f"[seed {seed}] training {len(train)} arm(s) for {budget:.0f} s each", flush=True)
        _run_parallel(train)
    rel = []
    for p in probs:
        name = _arm_name(p, seed)
        if not (RUNS / f"{name}_rel.metrics.json").is_file():
            cmd = [sys.executable, "-m", "ml.release", "--checkpoint", str(RUNS / f"{name}.pt"), "--data", str(data),
                   "--out", str(RUNS / f"{name}_rel.pt")]  # fmt: skip
            rel.append((cmd, RUNS / f"{name}.release.log"))
    if rel:
        print(f"[seed {seed}] releasing {len(rel)} checkpoint(s)", flush=True)
        _run_parallel(rel)


def arm_summary(prob: float, seed: int) -> dict[str, Any]:
    """One run's figures: steps reached, chosen step and its selection score, val scores (centroid and coarse)."""
    from ml.checkpoints import read_checkpoint

    name = _arm_name(prob, seed)
    metrics = json.loads((RUNS / f"{name}_rel.metrics.json").read_text())
    meta = read_checkpoint(RUNS / f"{name}.pt")["meta"]
    hist = meta.get("history", [])
    val = metrics["val"]
    return {
        "implant_prob": prob,
        "seed": seed,
        "steps": max((h["step"] for h in hist), default=0),
        "chosen_step": metrics["chosen_step"],
        "selection_iou": round(float(metrics["selection_metrics"]["iou"]), 2),
        "threshold": metrics["infer"]["threshold"],
        "val_centroid": val["edgsp_centroid"],
        "val_coarse": val["edgsp_coarse"],
        "coldstart_centroid": val["coldstart_centroid"],
        "coldstart_coarse": val["coldstart_coarse"],
        "curve": [(round(h["elapsed_s"], 1), round(float(h["selection"]["iou"]), 2)) for h in hist],
    }


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        t, iou = [c[0] for c in r["curve"]], [c[1] for c in r["curve"]]
        style = "-" if r["implant_prob"] > 0 else "--"
        ax.plot([x / 60 for x in t], iou, style, label=f"implant {r['implant_prob']:g}, seed {r['seed']}")
    ax.set(xlabel="training time (min, 1 thread)", ylabel="selection IoU (EMA, centroid, BBM)", ylim=(60, 90))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _mean(rows: list[dict[str, Any]], key: str, sub: str) -> float:
    return round(sum(float(r[key][sub]) for r in rows) / len(rows), 2)


def summarise(rows: list[dict[str, Any]], probs: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in probs:
        rs = [r for r in rows if r["implant_prob"] == p]
        out[f"{p:g}"] = {
            "val_centroid_iou": _mean(rs, "val_centroid", "iou"),
            "val_coarse_iou": _mean(rs, "val_coarse", "iou"),
            "val_centroid_pd": _mean(rs, "val_centroid", "pd"),
            "val_centroid_fat": _mean(rs, "val_centroid", "fat"),
            "selection_iou": round(sum(r["selection_iou"] for r in rs) / len(rs), 2),
            "steps": round(sum(r["steps"] for r in rs) / len(rs)),
        }
    return out


def write_report(rows: list[dict[str, Any]], summary: dict[str, Any], args: argparse.Namespace, wall: float) -> None:
    lines = [
        "# Implanted synthetic targets: gain at equal CPU time",
        "",
        f"Command: `python bench/implant.py --budget {args.budget:g} --seeds {' '.join(map(str, args.seeds))} "
        f"--probs {' '.join(f'{p:g}' for p in args.probs)}` ({wall / 60:.0f} min wall on this 2-core machine). "
        "Arms of one seed trained side by side, one thread each, with the same time budget; each checkpoint "
        "released with `python -m ml.release` (threshold and TTA chosen on the 38-frame selection split from "
        "train); val (85 frames) reported only.",
        "",
        "| implant share | seed | steps | chosen step | selection IoU | val IoU centroid (Pd / Fat) "
        "| val IoU coarse (Pd / Fat) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, k = r["val_centroid"], r["val_coarse"]
        lines.append(
            f"| {r['implant_prob']:g} | {r['seed']} | {r['steps']} | {r['chosen_step']} | {r['selection_iou']:.2f} "
            f"| {c['iou']:.2f} ({c['pd']:.1f} / {c['fat']:.1f}) | {k['iou']:.2f} ({k['pd']:.1f} / {k['fat']:.1f}) |"
        )
    cs, ck = rows[0]["coldstart_centroid"], rows[0]["coldstart_coarse"]
    lines += [
        f"| cold start | — | — | — | — | {cs['iou']:.2f} ({cs['pd']:.1f} / {cs['fat']:.1f}) "
        f"| {ck['iou']:.2f} ({ck['pd']:.1f} / {ck['fat']:.1f}) |",
        "",
        "Means over seeds:",
        "",
        "| implant share | steps | selection IoU | val IoU centroid | val Pd / Fat centroid | val IoU coarse |",
        "|---|---|---|---|---|---|",
    ]
    for p, s in summary.items():
        lines.append(
            f"| {p} | {s['steps']} | {s['selection_iou']:.2f} | {s['val_centroid_iou']:.2f} "
            f"| {s['val_centroid_pd']:.1f} / {s['val_centroid_fat']:.1f} | {s['val_coarse_iou']:.2f} |"
        )
    lines += ["", "![selection IoU against training time](implant.png)", ""]
    REPORT.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sirst")
    ap.add_argument("--budget", type=float, default=1800.0, help="training seconds per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    ap.add_argument("--probs", type=float, nargs="+", default=[0.0, 0.5])
    args = ap.parse_args()
    if not (args.data / "splits" / "train.txt").is_file():
        raise SystemExit(f"{args.data}: no splits/train.txt (expected the SIRST layout images/ masks/ splits/)")
    RUNS.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    for seed in args.seeds:
        run_arm_pair(args.data, args.probs, seed, args.budget)
    rows = [arm_summary(p, s) for s in args.seeds for p in args.probs]
    summary = summarise(rows, args.probs)
    wall = time.monotonic() - t0
    _plot(rows, REPORT.with_name("implant.png"))
    write_report(rows, summary, args, wall)
    result = {"bench": "implant", "budget_s": args.budget, "seeds": args.seeds, "by_share": summary}
    REPORT.with_name("implant.json").write_text(json.dumps({**result, "runs": rows}, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
