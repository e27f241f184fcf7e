"""Active vs stream order: how many confirmed frames a team needs before the fine-tuned engine reaches a quality.

A simulated team labels a pool of unlabelled frames in rounds. Before each round it takes the next frames either
in the stream's order (a stable hash of the id: what `claim_order: id` hands out on a shuffled import) or in the
active order (`claim_order: active`: the frames the generators are least sure of first, ranked with the same
`labeling.ml_adapter.frame_uncertainty` the app's ranking job calls, on the detector's candidates, as a frame
nobody has clicked is ranked). After each round the shipped weights are fine-tuned on every frame labelled so far
exactly as the learning loop does (`ml_adapter.train`, the loop's time budget per frame count, the 1-px gap off
when the team's masks touch) and scored on a fixed test folder. Choose on a *train* proxy pool:

    python bench/active.py --pool runs/proxies/dense_train --test runs/proxies/dense_val [--pool-size 60]
        [--test-size 40] [--rounds 5 10 20] [--report bench/reports/active.md]

Prints one JSON line; writes the report and a plot. Each order runs in its own process on one thread. One
training seed per round: a gap smaller than the intervals is noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stream_data import frame_order, load_frames  # noqa: E402 - after the path tweak
from ml.inference import DEFAULT_WEIGHTS as SHIPPED  # noqa: E402 - the base weights the app ships

REPORT = ROOT / "bench" / "reports" / "active.md"
ORDERS = ("stream", "active")
LOOP_POLICY = {"time_budget_s": 300.0, "seconds_per_frame": 20.0}  # labeling.services.projects defaults


def _frames(folder: str, limit: int) -> list[Any]:
    frames = {
        f.id: f for f in load_frames(Path(folder) / "images", Path(folder) / "masks", Path(folder) / "points.json")
    }
    return [frames[i] for i in frame_order(list(frames), "hash")[:limit]]


def _union(frame: Any) -> np.ndarray:
    out = np.zeros(frame.image.shape, dtype=bool)
    for m in frame.instances:
        out |= m
    return out


def loop_budget(n_frames: int) -> float:
    """labeling.services.training.run_budget with the project defaults (20 s a frame, 60 s to 300 s)."""
    cap = LOOP_POLICY["time_budget_s"]
    return min(cap, max(min(60.0, cap), LOOP_POLICY["seconds_per_frame"] * n_frames))


def _rank(pool: list[Any], serving: Any, other: Any) -> list[tuple[float, Any]]:
    from labeling import ml_adapter

    scored = [(ml_adapter.frame_uncertainty(f.image, None, serving, other)["score"], f) for f in pool]
    return sorted(scored, key=lambda s: -s[0])


def _score(spec: Any, test: list[Any]) -> dict[str, float]:
    from labeling import ml_adapter

    r = ml_adapter.score_with_interval(spec, [(f.image, f.points, _union(f)) for f in test])
    return {"iou": round(r["iou"], 2), "low": round(r["iou_low"], 1), "high": round(r["iou_high"], 1)}


def run_order(
    order: str, pool_dir: str, test_dir: str, pool_size: int, test_size: int, rounds: list[int], out: str
) -> dict:
    """Label the pool in `order`, fine-tune after each round, score on the test frames."""
    import torch

    from labeling import ml_adapter

    torch.set_num_threads(1)
    pool, test = _frames(pool_dir, pool_size), _frames(test_dir, test_size)
    cold = ml_adapter.GeneratorSpec()
    serving: Any = cold  # a new project serves the cold start; the base weights are the other kind
    other: Any = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=str(SHIPPED))
    labelled: list[Any] = []
    rows = []
    for n in rounds:
        started = time.perf_counter()
        taken = {f.id for f in labelled}
        left = [f for f in pool if f.id not in taken]
        if order == "active":
            ranked = _rank(left, serving, other)
            picked = [f for _, f in ranked[: n - len(labelled)]]
            picked_scores = [s for s, _ in ranked[: n - len(labelled)]]
        else:
            picked, picked_scores = left[: n - len(labelled)], []
        rank_s = time.perf_counter() - started
        labelled += picked
        touch = any(ml_adapter.masks_touch(f.instances) for f in labelled)
        trained = ml_adapter.train(
            [(f.id, f.image, _union(f), f.points) for f in labelled],
            init_checkpoint=str(SHIPPED),
            out_path=str(Path(out) / f"{order}_{n}.pt"),
            time_budget_s=loop_budget(len(labelled)),
            threads=1,
        )
        serving = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=trained["checkpoint"], gaps=not touch)
        other = cold
        rows.append(
            {
                "labels": n,
                "targets": int(sum(len(f.points) for f in labelled)),
                "picked": [f.id for f in picked],
                "picked_scores": [round(s, 3) for s in picked_scores],
                "rank_s": round(rank_s, 1),
                "steps": trained["steps"],
                "test": _score(serving, test),
            }
        )
    return {"order": order, "rounds": rows}


def zero_shot(test_dir: str, test_size: int) -> dict[str, Any]:
    from labeling import ml_adapter

    test = _frames(test_dir, test_size)
    base = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=str(SHIPPED))
    return {"coldstart": _score(ml_adapter.GeneratorSpec(), test), "base_weights": _score(base, test)}


def labels_to_reach(rows: list[dict[str, Any]], quality: float) -> float | None:
    """Frames labelled when the test IoU first reaches `quality`, linear between rounds (None: never)."""
    prev_n, prev_q = 0, None
    for r in rows:
        q = r["test"]["iou"]
        if q >= quality:
            if prev_q is None or prev_q >= quality:
                return float(r["labels"])
            return round(prev_n + (quality - prev_q) / (q - prev_q) * (r["labels"] - prev_n), 1)
        prev_n, prev_q = r["labels"], q
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pool", required=True, help="frames the team labels (a proxy folder: images/, masks/, points.json)"
    )
    ap.add_argument("--test", required=True, help="frames every fine-tune is scored on")
    ap.add_argument("--pool-size", type=int, default=60)
    ap.add_argument("--test-size", type=int, default=40)
    ap.add_argument("--rounds", type=int, nargs="+", default=[5, 10, 20], help="frames labelled after each round")
    ap.add_argument("--out", default=str(ROOT / "runs" / "active"), help="where checkpoints go")
    ap.add_argument("--report", default=str(REPORT))
    args = ap.parse_args()
    rounds = sorted(set(args.rounds))
    if rounds[0] < 1 or rounds[-1] > args.pool_size:
        ap.error(f"--rounds must lie in 1..--pool-size ({args.pool_size})")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(run_order, o, args.pool, args.test, args.pool_size, args.test_size, rounds, args.out)
            for o in ORDERS
        ]
        reference = zero_shot(args.test, args.test_size)
        arms = {f.result()["order"]: f.result()["rounds"] for f in futures}
    goal = arms["stream"][-1]["test"]["iou"]
    result = {
        "bench": "active",
        "pool": args.pool,
        "test": args.test,
        "pool_size": args.pool_size,
        "test_size": args.test_size,
        **reference,
        "arms": arms,
        "goal_iou": goal,
        "labels_to_goal": {o: labels_to_reach(rows, goal) for o, rows in arms.items()},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "arms"} | {"final": _finals(arms)}))
    _write_report(result, Path(args.report), args)


def _finals(arms: dict[str, list[dict[str, Any]]]) -> dict[str, list[float]]:
    return {o: [r["test"]["iou"] for r in rows] for o, rows in arms.items()}


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for order, rows in result["arms"].items():
        xs = [r["labels"] for r in rows]
        ax.errorbar(
            xs,
            [r["test"]["iou"] for r in rows],
            yerr=[
                [r["test"]["iou"] - r["test"]["low"] for r in rows],
                [r["test"]["high"] - r["test"]["iou"] for r in rows],
            ],
            marker="o",
            capsize=3,
            label=f"{order} order",
        )
    ax.axhline(result["coldstart"]["iou"], color="grey", ls=":", label="cold start (0 labels)")
    ax.set_xlabel("frames labelled")
    ax.set_ylabel("test IoU after fine-tuning")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _write_report(result: dict[str, Any], path: Path, args: argparse.Namespace) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    png = path.with_suffix(".png")
    _plot(result, png)
    cmd = (
        f"python bench/active.py --pool {args.pool} --test {args.test} --pool-size {args.pool_size} "
        f"--test-size {args.test_size} --rounds {' '.join(str(r) for r in sorted(set(args.rounds)))}"
    )
    cell = lambda r: f"{r['iou']:.2f} [{r['low']:.1f}, {r['high']:.1f}]"  # noqa: E731
    lines = [
        "# Active vs stream order",
        "",
        f"Command: `{cmd}` ({result['wall_s']:.0f} s on this machine, 2 cores).",
        "",
        f"Zero-shot on the {result['test_size']} test frames: cold start {cell(result['coldstart'])}, "
        f"base weights {cell(result['base_weights'])}. Pooled IoU with its 95 % bootstrap interval over test frames.",
        "",
        "| frames labelled | "
        + " | ".join(f"{o} order: test IoU (targets labelled, steps)" for o in result["arms"])
        + " |",
        "|---|" + "---|" * len(result["arms"]),
    ]
    rounds = list(zip(*result["arms"].values(), strict=True))
    for row in rounds:
        cells = [f"{cell(r['test'])} ({r['targets']}, {r['steps']})" for r in row]
        lines.append(f"| {row[0]['labels']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Frames needed to reach the stream order's last figure ({result['goal_iou']:.2f}): "
        + ", ".join(f"{o} {v if v is not None else 'not reached'}" for o, v in result["labels_to_goal"].items())
        + ".",
        "",
        f"![test IoU against frames labelled]({png.name})",
        "",
        "Raw JSON line:",
        "",
        "```",
        json.dumps({k: v for k, v in result.items() if k != "arms"} | {"final": _finals(result["arms"])}),
        "```",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
