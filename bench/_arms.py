"""Equal-CPU-time training arms for the recipe benches (`bench/implant.py`, `bench/variants.py`).

An arm is the shipped recipe's `python -m ml train` command plus a few flags that override it (argparse
keeps the last value of a repeated flag). Arms trained together run side by side, one torch/OpenMP thread
each, so they share the machine's load; each checkpoint is then released with `python -m ml.release`
(threshold and TTA chosen on the selection split carved from train, val scored for the report only).
Finished runs and releases already on disk are kept, so an interrupted bench goes on where it stopped
(an arm cut off mid-training is trained again from the start).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# The shipped recipe (ml/weights/README.md), one thread, evaluated every 250 steps.
RECIPE = [
    "--size", "small", "--crop-mode", "target", "--crop-size", "112", "--batch-size", "16", "--max-steps", "400000",
    "--eval-every", "250", "--coarse-prob", "0.5", "--threads", "1",
]  # fmt: skip


def train_cmd(data: Path, out: Path, seed: int, budget: float, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "ml", "train", "--data", str(data), "--out", str(out), *RECIPE,
            "--time-budget", str(budget), "--seed", str(seed), *extra]  # fmt: skip


def release_cmd(data: Path, checkpoint: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ml.release", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out)]


def run_parallel(cmds: list[tuple[list[str], Path]]) -> None:
    """Run the commands at once, one torch/OpenMP thread each, and fail naming the log of any that failed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGSP_TORCH_THREADS": "1"}
    procs = []
    for cmd, log in cmds:
        with log.open("w") as fh:
            procs.append((subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT), log))
    failed = [str(log) for p, log in procs if p.wait() != 0]
    if failed:
        raise SystemExit(f"failed, see {', '.join(failed)}")


def _trained(runs: Path, name: str) -> bool:
    """A finished run: `ml train` writes the curve PNG only after the final checkpoint (the .pt alone may be a
    best-so-far written mid-run, so an interrupted run is trained again, not released half-done)."""
    return (runs / f"{name}.pt").is_file() and (runs / f"{name}.png").is_file()


def train_and_release(
    data: Path, runs: Path, arms: dict[str, list[str]], seed: int, budget: float, jobs: int | None = None
) -> None:
    """Train the arms missing from `runs` side by side (`jobs` at a time, default all), then release them."""
    runs.mkdir(parents=True, exist_ok=True)
    train = [
        (train_cmd(data, runs / f"{name}.pt", seed, budget, extra), runs / f"{name}.train.log")
        for name, extra in arms.items()
        if not _trained(runs, name)
    ]
    step = jobs or max(len(train), 1)
    for i in range(0, len(train), step):
        print(f"[seed {seed}] training {len(train[i : i + step])} arm(s) for {budget:.0f} s each", flush=True)
        run_parallel(train[i : i + step])
    rel = [
        (release_cmd(data, runs / f"{name}.pt", runs / f"{name}_rel.pt"), runs / f"{name}.release.log")
        for name in arms
        if not (runs / f"{name}_rel.metrics.json").is_file()
    ]
    if rel:
        print(f"[seed {seed}] releasing {len(rel)} checkpoint(s)", flush=True)
        run_parallel(rel)


def arm_summary(runs: Path, name: str) -> dict[str, Any]:
    """One run's figures: steps reached, chosen step and its selection score, val scores (centroid and coarse)."""
    from ml.checkpoints import read_checkpoint

    metrics = json.loads((runs / f"{name}_rel.metrics.json").read_text())
    hist = read_checkpoint(runs / f"{name}.pt")["meta"].get("history", [])
    val = metrics["val"]
    return {
        "steps": max((h["step"] for h in hist), default=0),
        "chosen_step": metrics["chosen_step"],
        "selection_iou": round(float(metrics["selection_metrics"]["iou"]), 2),
        "selection_pd": round(float(metrics["selection_metrics"]["pd"]), 2),
        "threshold": metrics["infer"]["threshold"],
        "val_centroid": val["edgsp_centroid"],
        "val_coarse": val["edgsp_coarse"],
        "coldstart_centroid": val["coldstart_centroid"],
        "coldstart_coarse": val["coldstart_coarse"],
        "curve": [(round(h["elapsed_s"], 1), round(float(h["selection"]["iou"]), 2)) for h in hist],
    }


def mean_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds of the figures the reports compare."""

    def m(key: str, sub: str) -> float:
        return round(sum(float(r[key][sub]) for r in rows) / len(rows), 2)

    return {
        "val_centroid_iou": m("val_centroid", "iou"),
        "val_coarse_iou": m("val_coarse", "iou"),
        "val_centroid_pd": m("val_centroid", "pd"),
        "val_centroid_fat": m("val_centroid", "fat"),
        "selection_iou": round(sum(r["selection_iou"] for r in rows) / len(rows), 2),
        "steps": round(sum(r["steps"] for r in rows) / len(rows)),
    }


def plot_curves(rows: list[dict[str, Any]], labels: list[str], path: Path, dashed: list[bool]) -> None:
    """Selection IoU against training time, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r, label, dash in zip(rows, labels, dashed, strict=True):
        t, iou = [c[0] for c in r["curve"]], [c[1] for c in r["curve"]]
        ax.plot([x / 60 for x in t], iou, "--" if dash else "-", label=label)
    ax.set(xlabel="training time (min, 1 thread)", ylabel="selection IoU (EMA, centroid, BBM)", ylim=(50, 90))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def wall_text(wall: float) -> str:
    """How long this invocation took, or that it only re-read finished runs."""
    return f"this invocation {wall / 60:.0f} min wall" if wall >= 60 else "this invocation re-read finished runs"


def _val_cells(c: dict[str, Any], k: dict[str, Any]) -> str:
    return f"{c['iou']:.2f} ({c['pd']:.1f} / {c['fat']:.1f}) | {k['iou']:.2f} ({k['pd']:.1f} / {k['fat']:.1f})"


def report_tables(
    lead_cols: list[str], leads: list[list[str]], rows: list[dict[str, Any]], summary: dict[str, dict[str, Any]],
    image: str,
) -> list[str]:  # fmt: skip
    """Per-run table (the bench's own leading columns, then the figures every arm has, then the cold start),
    the means over seeds, and the curves image."""
    cols = [*lead_cols, "seed", "steps", "chosen step", "selection IoU (Pd)", "val IoU centroid (Pd / Fat)",
            "val IoU coarse (Pd / Fat)"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for lead, r in zip(leads, rows, strict=True):
        lines.append(
            f"| {' | '.join(lead)} | {r['seed']} | {r['steps']} | {r['chosen_step']} "
            f"| {r['selection_iou']:.2f} ({r['selection_pd']:.1f}) | {_val_cells(r['val_centroid'], r['val_coarse'])} |"
        )
    dashes = " | ".join(["—"] * (len(cols) - 3))
    lines += [
        f"| cold start | {dashes} | {_val_cells(rows[0]['coldstart_centroid'], rows[0]['coldstart_coarse'])} |",
        "",
        "Means over seeds:",
        "",
        f"| {lead_cols[0]} | steps | selection IoU | val IoU centroid | val Pd / Fat centroid | val IoU coarse |",
        "|---|---|---|---|---|---|",
    ]
    for key, m in summary.items():
        lines.append(
            f"| {key} | {m['steps']} | {m['selection_iou']:.2f} | {m['val_centroid_iou']:.2f} "
            f"| {m['val_centroid_pd']:.1f} / {m['val_centroid_fat']:.1f} | {m['val_coarse_iou']:.2f} |"
        )
    return [*lines, "", f"![selection IoU against training time]({image})", ""]


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every arm bench takes: where SIRST is and the training seconds per run."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sirst")
    ap.add_argument("--budget", type=float, default=1800.0, help="training seconds per run")
    return ap


def parse_args(ap: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and refuse a data folder without the train and val splits before any training starts."""
    from ml.data import read_split

    args = ap.parse_args()
    try:
        read_split(args.data, "train"), read_split(args.data, "val")
    except ValueError as exc:
        raise SystemExit(f"{args.data}: {exc} (expected the SIRST layout images/ masks/ splits/)") from exc
    return args


def write_outputs(
    report: Path, lines: list[str], result: dict[str, Any], rows: list[dict[str, Any]], labels: list[str],
    dashed: list[bool],
) -> None:  # fmt: skip
    """The report, the curves and the JSON beside it (result plus every run), and the one JSON line on stdout."""
    plot_curves(rows, labels, report.with_suffix(".png"), dashed)
    report.write_text("\n".join(lines))
    report.with_suffix(".json").write_text(json.dumps({**result, "runs": rows}, indent=1) + "\n")
    print(json.dumps(result))
