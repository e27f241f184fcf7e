"""CLI: python -m ml {train, predict, evaluate}. Errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> None:
    from ml.config import ModelConfig, TrainConfig
    from ml.train import fit

    tc = TrainConfig(
        seed=args.seed,
        lr=args.lr,
        warmup_steps=args.warmup,
        max_steps=args.max_steps,
        time_budget_s=args.time_budget,
        batch_size=args.batch_size,
        crop_mode=args.crop_mode,
        crop_size=args.crop_size,
        coarse_point_prob=args.coarse_prob,
        implant_prob=args.implant_prob,
        cluster_prob=args.cluster_prob,
        photometric_prob=args.photometric_prob,
        prior_style_prob=args.prior_style_prob,
        ema_decay=args.ema_decay,
        eval_every=args.eval_every,
        select_fraction=args.select_fraction,
        select_cluster_share=args.select_clusters,
        device=args.device,
        threads=args.threads,
        loader_workers=args.loader_workers,
    )
    mc = ModelConfig(size=args.size, prior=not args.no_prior, edge=args.edge, normalisation=args.normalisation)
    overrides = {"alpha": args.coldstart_alpha} if args.coldstart_alpha is not None else None
    res = fit(
        args.data,
        tc,
        mc,
        init_checkpoint=args.init,
        out_path=args.out,
        state_path=args.state,
        resume=args.resume,
        coldstart_overrides=overrides,
    )
    print(
        json.dumps(
            {
                "checkpoint": str(res.checkpoint_path),
                "steps": res.steps,
                "chosen_step": res.chosen_step,
                "selection": res.metrics,
                "curve": str(res.curve_path),
            }
        )
    )


def _load_points(path: Path) -> dict[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read points file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"points file {path} must hold an object {{image id: [[x, y], ...]}}")
    return data


def _predict(args: argparse.Namespace) -> None:
    import cv2
    import numpy as np

    from ml.data import find_file, read_image
    from ml.inference import ColdStartPredictor, Predictor

    images_dir, out_dir = Path(args.images), Path(args.out)
    if not images_dir.is_dir():
        raise ValueError(f"image directory {images_dir} not found")
    points = _load_points(Path(args.points))
    if args.method == "coldstart":
        predictor = ColdStartPredictor()
    else:
        predictor = Predictor.load(args.weights, device=args.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_flagged = 0
    for image_id, pts in sorted(points.items()):
        image = read_image(find_file(images_dir, image_id))
        arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2) if len(pts) else np.zeros((0, 2))
        kwargs = {"tta": True if args.tta else None} if args.method == "edgsp" else {}
        res = predictor.predict(image, arr, name=f"image {image_id}", **kwargs)
        mask = res.union() if len(arr) else np.zeros(image.shape[:2], dtype=bool)
        n_flagged += sum(res.fallback) + sum(res.adhesion)
        if not cv2.imwrite(str(out_dir / f"{image_id}.png"), mask.astype(np.uint8) * 255):
            raise ValueError(f"cannot write {out_dir / f'{image_id}.png'}")
    print(json.dumps({"written": len(points), "out": str(out_dir), "method": args.method, "flagged": n_flagged}))


def _evaluate(args: argparse.Namespace) -> None:
    from ml.evaluation import evaluate_dirs

    print(json.dumps(evaluate_dirs(args.pred, args.gt, args.ids)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ml", description="EDGSP single-point-prompt masks")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train or fine-tune on an images/masks/splits directory")
    t.add_argument("--data", required=True)
    t.add_argument("--out", default=None, help="checkpoint path (default runs/edgsp/edgsp_<size>.pt)")
    t.add_argument("--init", default=None, help="fine-tune from this checkpoint")
    t.add_argument("--size", default="small", choices=["small", "base", "large"])
    t.add_argument("--no-prior", action="store_true", help="no cold-start prior channel")
    t.add_argument("--edge", default="central", choices=["central", "sobel"])
    t.add_argument("--normalisation", default="robust", choices=["robust", "fixed"])
    t.add_argument("--crop-mode", default="target", choices=["target", "paper"])
    t.add_argument("--crop-size", type=int, default=112)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--max-steps", type=int, default=20000)
    t.add_argument("--time-budget", type=float, default=None, help="seconds")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=150)
    t.add_argument("--coarse-prob", type=float, default=0.5)
    t.add_argument(
        "--implant-prob", type=float, default=0.0, help="share of crops given synthetic targets on the real frame"
    )
    t.add_argument(
        "--cluster-prob", type=float, default=0.0,
        help="share of crops given a dense cluster of 2-30 touching synthetic targets on the real frame",
    )  # fmt: skip
    t.add_argument(
        "--photometric-prob", type=float, default=0.0,
        help="share of frames rendered as another sensor would (blur, gamma, noise, stripes, 8/16-bit)",
    )  # fmt: skip
    t.add_argument(
        "--prior-style-prob", type=float, default=0.0,
        help="share of samples with restyled labels (targets dilated 1-3 px / eroded 1 px) and the prior at the "
        "matching alpha, so the net follows the prior's width",
    )  # fmt: skip
    t.add_argument(
        "--coldstart-alpha", type=float, default=None,
        help="cold-start alpha of the prior channel (overrides the model's frozen setting; stored in the checkpoint)",
    )  # fmt: skip
    t.add_argument("--ema-decay", type=float, default=0.995)
    t.add_argument("--eval-every", type=int, default=250)
    t.add_argument(
        "--select-fraction", type=float, default=0.15,
        help="share of the data held out to pick the checkpoint; 0: train on all, keep the last EMA weights",
    )  # fmt: skip
    t.add_argument(
        "--select-clusters", type=float, default=0.0,
        help="share of the selection IoU taken from the selection frames with a dense cluster of 5-30 targets "
        "added (0: the frames alone)",
    )  # fmt: skip
    t.add_argument(
        "--loader-workers", type=int, default=0,
        help="make batches in N background processes (for a GPU; another random stream than 0)",
    )  # fmt: skip
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--state", default=None, help="resumable training state, rewritten at every evaluation")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --state")
    t.set_defaults(func=_train)
    r = sub.add_parser("predict", help="write <id>.png masks for the points of POINTS.json")
    r.add_argument("--images", required=True)
    r.add_argument("--points", required=True, help='JSON {"<image id>": [[x, y], ...]}')
    r.add_argument("--out", required=True)
    r.add_argument("--method", default="edgsp", choices=["edgsp", "coldstart"])
    r.add_argument("--weights", default=None, help="checkpoint (default: shipped weights)")
    r.add_argument("--device", default="auto")
    r.add_argument("--tta", action="store_true", help="force 8-way flip/transpose averaging")
    r.set_defaults(func=_predict)
    e = sub.add_parser("evaluate", help="print IoU/Pd/Fat/Fa JSON of predicted vs GT mask folders")
    e.add_argument("--pred", required=True)
    e.add_argument("--gt", required=True)
    e.add_argument("--ids", default=None, help="optional split file: score only these ids (e.g. splits/val.txt)")
    e.set_defaults(func=_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
