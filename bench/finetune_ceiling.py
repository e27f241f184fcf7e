"""What a fine-tune of the engine reaches on a proxy, outside the app: the ceiling of the learning loop's later frames.

The shipped weights are fine-tuned exactly as the loop does (`labeling.ml_adapter.train`: the humans' clicks prompt
the net, every frame trains, no selection split) on the first N frames of a proxy folder in the stream's order (a
stable hash of the id), then scored on the next frames of the stream, with and without the 1-px gap between
touching targets (`GeneratorSpec.gaps`). Recipe variants differ in time budget and optimiser settings. Use a *train*
proxy to choose (e.g. `python bench/proxies.py --kind dense --split train --out runs/proxies/dense_train --limit 80`):

    python bench/finetune_ceiling.py --folder runs/proxies/dense_train [--train 20 --frames 60] [--variants ...]
        [--jobs 2] [--init WEIGHTS] [--calibrated-prior] [--report bench/reports/finetune_ceiling.md]

`--init` fine-tunes other weights than the shipped ones (e.g. a candidate for re-release); `--calibrated-prior`
makes the prior channel with the cold start calibrated on the same training frames, as the loop does. The cold
start calibrated on those frames (`ml_adapter.calibrate_alpha`, what the loop serves first) is scored beside.

Prints one JSON line; writes the report. IoU is pooled over the scored frames, with a 95 % bootstrap interval over
frames (ml.metrics.iou_interval). Each variant trains in its own process on one thread (`--jobs` at a time).
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
from ml.inference import DEFAULT_WEIGHTS as SHIPPED  # noqa: E402 - ml/weights/edgsp_small.pt, as the app ships it

REPORT = ROOT / "bench" / "reports" / "finetune_ceiling.md"
# name -> (time budget s, TrainConfig overrides on top of the loop's fine-tune preset)
VARIANTS: dict[str, tuple[float, dict[str, Any]]] = {
    "loop": (300.0, {}),
    "loop-600s": (600.0, {}),
    "cli-recipe": (300.0, {"lr": 1e-3, "warmup_steps": 150, "ema_decay": 0.995}),
    "crop64": (300.0, {"crop_size": 64, "lr": 1e-3}),
}


def _split(folder: Path, n_train: int, n_frames: int) -> tuple[list, list]:
    frames = {f.id: f for f in load_frames(folder / "images", folder / "masks", folder / "points.json")}
    order = frame_order(list(frames), "hash")[:n_frames]
    return [frames[i] for i in order[:n_train]], [frames[i] for i in order[n_train:]]


def _union(frame: Any) -> np.ndarray:
    out = np.zeros(frame.image.shape, dtype=bool)
    for m in frame.instances:
        out |= m
    return out


def _score(spec: Any, test: list) -> dict[str, float]:
    from labeling import ml_adapter

    r = ml_adapter.score_with_interval(spec, [(f.image, f.points, _union(f)) for f in test])
    return {"iou": round(r["iou"], 2), "low": round(r["iou_low"], 1), "high": round(r["iou_high"], 1)}


def calibrated(train: list) -> dict[str, Any]:
    """The cold-start settings the loop would calibrate on these frames (no gap where the masks touch)."""
    from labeling import ml_adapter

    gaps = not any(ml_adapter.masks_touch(f.instances) for f in train)
    chosen = ml_adapter.calibrate_alpha([(f.image, f.points, _union(f)) for f in train], gaps=gaps)
    return {"alpha": chosen["alpha"], "use_grabcut": chosen["use_grabcut"], "size_rule": chosen["size_rule"],
            "gaps": gaps}  # fmt: skip


def run_variant(
    name: str, folder: str, n_train: int, n_frames: int, out_dir: str, init: str, prior: dict[str, Any] | None
) -> dict[str, Any]:
    """Fine-tune one variant and score it on the later frames, gaps on and off."""
    import torch

    from labeling import ml_adapter

    torch.set_num_threads(1)
    train, test = _split(Path(folder), n_train, n_frames)
    budget, overrides = VARIANTS[name]
    started = time.perf_counter()
    out = ml_adapter.train(
        [(f.id, f.image, _union(f), f.points) for f in train],
        init_checkpoint=init,
        out_path=str(Path(out_dir) / f"{name}.pt"),
        time_budget_s=budget,
        threads=1,
        overrides=overrides,
        prior=prior,
    )
    spec = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=out["checkpoint"])
    touching = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=out["checkpoint"], gaps=False)
    return {
        "variant": name,
        "budget_s": budget,
        "overrides": overrides,
        "steps": out["steps"],
        "train_s": round(time.perf_counter() - started, 1),
        "gaps": _score(spec, test),
        "no_gaps": _score(touching, test),
    }


def zero_shot(folder: str, n_train: int, n_frames: int, init: str, cal: dict[str, Any]) -> dict[str, Any]:
    from labeling import ml_adapter

    _, test = _split(Path(folder), n_train, n_frames)
    base = ml_adapter.GeneratorSpec(method=ml_adapter.EDGSP, checkpoint=init)
    return {
        "coldstart": _score(ml_adapter.GeneratorSpec(), test),
        "coldstart_calibrated": {**_score(ml_adapter.GeneratorSpec(**cal), test), "settings": cal},
        "base_weights": _score(base, test),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, help="a proxy folder (images/, masks/, points.json)")
    ap.add_argument("--train", type=int, default=20, help="frames fine-tuned on (the stream's first)")
    ap.add_argument("--frames", type=int, default=60, help="frames of the stream; the rest after --train are scored")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "finetune_ceiling"), help="where checkpoints go")
    ap.add_argument("--report", default=str(REPORT))
    ap.add_argument("--init", default=str(SHIPPED), help="weights to fine-tune (default: the shipped ones)")
    ap.add_argument(
        "--calibrated-prior", action="store_true",
        help="prior channel made with the cold start calibrated on the training frames (as the loop does)",
    )  # fmt: skip
    args = ap.parse_args()
    if not Path(args.init).is_file():
        raise SystemExit(f"--init: {args.init} not found")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cal = calibrated(_split(Path(args.folder), args.train, args.frames)[0])
    prior = {"alpha": cal["alpha"]} if args.calibrated_prior else None
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_variant, v, args.folder, args.train, args.frames, args.out, args.init, prior)
            for v in args.variants
        ]
        reference = zero_shot(args.folder, args.train, args.frames, args.init, cal)
        rows = [f.result() for f in futures]
    result = {
        "bench": "finetune_ceiling",
        "folder": args.folder,
        "init": args.init,
        "prior": prior,
        "train_frames": args.train,
        "scored_frames": args.frames - args.train,
        **reference,
        "variants": rows,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    _write_report(result, Path(args.report), args)


def _cell(r: dict[str, float]) -> str:
    return f"{r['iou']:.2f} [{r['low']:.1f}, {r['high']:.1f}]"


def _write_report(res: dict[str, Any], path: Path, args: argparse.Namespace) -> None:
    command = f"python bench/finetune_ceiling.py --folder {args.folder} --train {args.train} --frames {args.frames}"
    command += f" --variants {' '.join(args.variants)} --jobs {args.jobs}"
    command += f" --init {args.init}" if Path(args.init).resolve() != SHIPPED.resolve() else ""
    command += " --calibrated-prior" if args.calibrated_prior else ""
    lines = [
        f"# Fine-tune ceiling on `{res['folder']}`",
        "",
        f"Command: `{command}` ({res['wall_s']:.0f} s on this machine, 2 cores).",
        "",
        f"`{Path(res['init']).name}` fine-tuned as the learning loop does on the stream's first "
        f"{res['train_frames']} frames (prior: {res['prior'] or 'as the weights froze it'}), scored on the next "
        f"{res['scored_frames']}; pooled IoU with its 95 % bootstrap interval over frames. On the same frames: cold "
        f"start {_cell(res['coldstart'])}, cold start calibrated on the training frames as the loop would "
        f"{_cell(res['coldstart_calibrated'])} ({res['coldstart_calibrated']['settings']}), the weights zero-shot "
        f"{_cell(res['base_weights'])}.",
        "",
        "| variant | budget s | overrides | steps | IoU, 1-px gap (SIRST) | IoU, touching targets touch |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["variants"]:
        lines.append(
            f"| {r['variant']} | {r['budget_s']:g} | {json.dumps(r['overrides'])} | {r['steps']} | {_cell(r['gaps'])} "
            f"| {_cell(r['no_gaps'])} |"
        )
    lines += ["", "Raw JSON line:", "", "```", json.dumps(res), "```", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
