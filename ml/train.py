"""Training and fine-tuning: fit(data, config, init_checkpoint, time_budget_s, progress_callback)."""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.checkpoints import load_checkpoint, load_state, restore_rng, save_checkpoint, save_state
from ml.coldstart import ColdStartParams
from ml.config import ML_VERSION, ModelConfig, TrainConfig
from ml.data import Sample, data_hash, load_samples, split_selection
from ml.evaluation import evaluate_predictor
from ml.inference import Predictor, resolve_device
from ml.loader import worker_batches
from ml.losses import deep_supervision_bce
from ml.models import EDGSPNet, build_model, count_parameters
from ml.prior import coldstart_params_from_dict, coldstart_params_to_dict, override_coldstart_params
from ml.sampling import BatchSampler, prepare_items
from ml.styles import STYLES, restyle_mask
from ml.synthetic import dense_copies

ProgressCallback = Callable[[dict[str, Any]], None]
MIN_SELECTION_SAMPLES = 8  # below this many training frames, no selection split: keep the last EMA
StyledFrames = dict[str, tuple[float, list[Sample]]]  # style -> (its prior alpha, the frames restyled)


@dataclass
class TrainResult:
    """What `fit` produced: checkpoint path, chosen step and its selection metrics, full history."""

    checkpoint_path: Path
    steps: int
    chosen_step: int
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    curve_path: Path | None = None


def _seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _lr_at(progress: float, step: int, tc: TrainConfig) -> float:
    """Linear warm-up over `warmup_steps`, then cosine from lr to min_lr over the progress fraction."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def _ema_update(ema: EDGSPNet, model: EDGSPNet, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def _selection_key(m: dict[str, Any]) -> tuple:
    """Rank: checkpoints with Pd 100 and Fat 0 first, then by IoU (ties: later wins)."""
    ok = m["pd"] >= 100.0 - 1e-9 and m["fat"] <= 1e-9
    return (ok, m["iou"] if ok else (m["pd"], -m["fat"], m["iou"]))


def _load_data(data: str | Path | list[Sample]) -> list[Sample]:
    if isinstance(data, str | Path):
        root = Path(data)
        return load_samples(root, "train" if (root / "splits" / "train.txt").exists() else None)
    return list(data)


def _init_model(
    model_config: ModelConfig | None, init_checkpoint: str | Path | None, coldstart_overrides: dict[str, Any] | None
) -> tuple[EDGSPNet, str | None]:
    """The net to train and its parent's version; its config carries the (overridden) cold-start settings."""
    if init_checkpoint is not None:
        model, payload = load_checkpoint(init_checkpoint)
        parent = payload.get("meta", {}).get("model_version")
    else:
        mc = model_config or ModelConfig()
        if mc.prior and mc.coldstart_params is None:
            mc = replace(mc, coldstart_params=coldstart_params_to_dict(ColdStartParams()))
        model, parent = build_model(mc), None
    if coldstart_overrides:
        frozen = coldstart_params_from_dict(model.config.coldstart_params)
        params = override_coldstart_params(frozen, coldstart_overrides)
        model.config = replace(model.config, coldstart_params=coldstart_params_to_dict(params))
    return model, parent


def _split(samples: list[Sample], tc: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    """(train, selection): no selection split for select_fraction 0 or for a handful of frames."""
    if not 0.0 <= tc.select_fraction < 1.0:
        raise ValueError(f"select_fraction must be within [0, 1), got {tc.select_fraction}")
    if tc.select_fraction == 0.0 or len(samples) < MIN_SELECTION_SAMPLES:
        return samples, []
    return split_selection(samples, tc.select_fraction, tc.select_seed)


def fit(
    data: str | Path | list[Sample],
    config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    init_checkpoint: str | Path | None = None,
    time_budget_s: float | None = None,
    progress_callback: ProgressCallback | None = None,
    out_path: str | Path | None = None,
    show_progress: bool = True,
    state_path: str | Path | None = None,
    resume: bool = False,
    coldstart_overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Train (or fine-tune) an EDGSP net and write a checkpoint.

    Args:
        data: a directory with images/, masks/ (and splits/train.txt, else every image is used), or
            a list of `Sample` with masks (e.g. the app's newly labelled frames).
        config: optimisation settings (TrainConfig()); `time_budget_s` overrides its budget.
        model_config: architecture for a new net; ignored when `init_checkpoint` is given.
        init_checkpoint: fine-tune from this checkpoint (its architecture and cold-start settings).
        progress_callback: called after every step with {step, max_steps, loss, lr, elapsed_s}, and
            with an extra "selection" entry after each evaluation.
        out_path: checkpoint file (default `<config.out_dir>/edgsp_<size>.pt`); a training-curve PNG
            is written beside it.
        state_path: where to keep a resumable training state, rewritten at every evaluation.
        resume: continue from `state_path` (same data and recipe; `max_steps` and `time_budget_s` may
            grow, and the time budget counts the time spent before the stop).
        coldstart_overrides: ColdStartParams fields (e.g. {"alpha": 0.1}) applied to the model's frozen
            cold-start settings; the prior in training uses them and the written checkpoint stores them.

    A selection split (config.select_fraction, fixed seed) is carved from the data; every
    `eval_every` steps the EMA weights are scored on it (centroid points, BBM) and the best, among
    those with Pd 100 and Fat 0, is kept. With select_fraction 0 (or under 8 frames) every sample is
    trained on and the last EMA weights are kept. Val/test data must never be passed here.
    With config.prior_style_prob > 0 the style -> alpha table (ml/styles.py) is calibrated on the training
    frames before the clock starts, and recorded in the meta with `prior_follows_alpha: true`; the selection
    then also scores every style at its alpha (see `_score`), so it does not favour the least-following weights.
    """
    tc = config or TrainConfig()
    if time_budget_s is not None:
        tc = replace(tc, time_budget_s=time_budget_s)
    trainer = Trainer(data, tc, model_config, init_checkpoint, out_path, coldstart_overrides)
    if resume:
        if state_path is None:
            raise ValueError("resume needs a state_path")
        trainer.restore(state_path)
    batches = trainer.batches()
    t0 = time.monotonic() - trainer.elapsed_before
    bar = _progress_bar(tc.max_steps, show_progress)
    bar.update(trainer.step)
    while trainer.step < tc.max_steps:
        elapsed = time.monotonic() - t0
        if tc.time_budget_s is not None and elapsed >= tc.time_budget_s:
            break
        record = trainer.train_step(next(batches), elapsed)
        bar.update(1)
        bar.set_postfix(loss=f"{trainer.loss_avg:.4f}", lr=f"{record['lr']:.1e}", refresh=False)
        due = trainer.step % tc.eval_every == 0
        if due:
            trainer.evaluate(record)
        trainer.history.append(record)
        if due and state_path is not None:
            trainer.save(state_path, time.monotonic() - t0)
        if progress_callback is not None:
            progress_callback(record)
    bar.close()
    del batches  # stops loader workers, if any
    return trainer.finish(time.monotonic() - t0)


class Trainer:
    """One training run's state and its three moves: a step, an evaluation on the selection split (keeping the
    best EMA weights), and the resumable state; `finish` writes the chosen checkpoint and its curve. `fit` drives
    it against the clock. The random streams are drawn in one fixed order, so a resumed run is bit-for-bit the
    run that was stopped."""

    def __init__(
        self,
        data: str | Path | list[Sample],
        tc: TrainConfig,
        model_config: ModelConfig | None,
        init_checkpoint: str | Path | None,
        out_path: str | Path | None,
        coldstart_overrides: dict[str, Any] | None,
    ) -> None:
        self.tc = tc
        torch.set_num_threads(max(1, tc.threads))
        self.rng = _seed_everything(tc.seed)
        samples = _load_data(data)
        if not samples:
            raise ValueError("no training samples found")
        train_s, self.select_s = _split(samples, tc)
        model, parent_version = _init_model(model_config, init_checkpoint, coldstart_overrides)
        self.mc = mc = model.config
        self.device = resolve_device(tc.device)
        self.model = model.to(self.device).to(memory_format=torch.channels_last).train()
        self.ema = copy.deepcopy(self.model).eval()
        self.items, self.cold = prepare_items(train_s, mc), coldstart_params_from_dict(mc.coldstart_params)
        self.sampler = BatchSampler(self.items, tc, mc, self.cold, self.rng)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=tc.lr)
        self.out_path = Path(out_path or Path(tc.out_dir) / f"edgsp_{mc.size}.pt")
        self.data_hash = data_hash(samples)
        self.meta_base = {
            "train_config": tc.to_dict(),
            "data_hash": self.data_hash,
            "n_train": len(train_s),
            "selection_ids": sorted(s.id for s in self.select_s),
            "parent_version": parent_version,
            "params": count_parameters(self.model),
            "ml_version": ML_VERSION,
            "prior_follows_alpha": self.sampler.style_alphas is not None,
        }
        self.styled = self._styled_selection()
        self.dense = self._dense_selection()
        # The overrides belong to the recipe: a resume with other ones would mix two priors.
        overrides = {"coldstart_overrides": dict(coldstart_overrides)} if coldstart_overrides else {}
        self.recipe = {**tc.to_dict(), **overrides}
        self.meta_base.update(overrides)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.step, self.loss_avg, self.elapsed_before = 0, None, 0.0

    def _styled_selection(self) -> StyledFrames | None:
        """A prior-following run's selection frames restyled per style, with each style's alpha (see `_score`)."""
        sampler = self.sampler
        if sampler.style_alphas is None:
            return None
        self.meta_base.update(
            prior_style_alphas=sampler.style_alphas,
            prior_style_used=sampler.styles,
            prior_style_default_alpha=self.cold.alpha,
        )
        return {
            k: (
                sampler.style_alphas[k],
                [Sample(s.id, s.image, restyle_mask(s.mask, STYLES[k]), s.points) for s in self.select_s],
            )
            for k in sampler.styles
        }

    def _dense_selection(self) -> list[Sample] | None:
        """The selection frames with a dense cluster added, when the selection IoU takes a share from them."""
        share = self.tc.select_cluster_share
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"select_cluster_share must be within [0, 1], got {share}")
        if share == 0.0 or not self.select_s:
            return None
        return dense_copies(self.select_s, self.tc.select_seed)

    def _judge(self) -> dict[str, Any]:
        """The EMA weights' selection figures: the frames (and styles), then the dense copies' share of the IoU."""
        sel = _score(self.ema, self.select_s, self.device, self.styled, self.tc.prior_style_prob)
        if self.dense is None:
            return sel
        share = self.tc.select_cluster_share
        dense = _score(self.ema, self.dense, self.device)
        # Pd and Fat stay the frames' own: on a dense copy the union's components merge touching targets.
        return {**sel, "iou": (1 - share) * sel["iou"] + share * dense["iou"], "iou_frames": sel["iou"],
                "iou_dense": dense["iou"]}  # fmt: skip

    def restore(self, state_path: str | Path) -> None:
        """Continue the run saved in `state_path` (same data and recipe, else a ValueError names what differs)."""
        saved = load_state(state_path, self.recipe, self.data_hash)
        self.model.load_state_dict(saved["model"])
        self.ema.load_state_dict(saved["ema"])
        self.opt.load_state_dict(saved["optimizer"])
        restore_rng(saved, self.rng)
        self.step, self.loss_avg, self.elapsed_before = saved["step"], saved["loss_avg"], saved["elapsed_s"]
        self.history, self.best = saved["history"], saved["best"]

    def batches(self) -> Any:
        if self.tc.loader_workers > 0:
            return worker_batches(
                self.items, self.tc, self.mc, self.cold, self.sampler.style_alphas, self.step, self.device
            )
        return iter(self.sampler.batch, None)  # the sampler in this process: the pinned random stream

    def train_step(self, batch: tuple[np.ndarray, np.ndarray], elapsed: float) -> dict[str, Any]:
        """One optimiser step at the scheduled lr, then the EMA; returns the step's record."""
        tc = self.tc
        progress = max(self.step / tc.max_steps, elapsed / tc.time_budget_s if tc.time_budget_s else 0.0)
        lr = _lr_at(progress, self.step, tc)
        for g in self.opt.param_groups:
            g["lr"] = lr
        xb, yb = batch
        x = torch.as_tensor(xb).to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = torch.as_tensor(yb).to(self.device, non_blocking=True)
        loss = deep_supervision_bce(self.model(x, deep=self.mc.deep_supervision), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        _ema_update(self.ema, self.model, min(tc.ema_decay, (1 + self.step) / (10 + self.step)))
        loss_v = float(loss.detach())
        if not math.isfinite(loss_v):
            raise FloatingPointError(f"training loss became {loss_v} at step {self.step}")
        self.loss_avg = loss_v if self.loss_avg is None else 0.98 * self.loss_avg + 0.02 * loss_v
        return {"step": self.step, "max_steps": tc.max_steps, "loss": loss_v, "lr": lr, "elapsed_s": elapsed}

    def evaluate(self, record: dict[str, Any]) -> None:
        """Score the EMA weights on the selection split (if any); a new best is written as the checkpoint."""
        if not self.select_s:
            return
        sel = self._judge()
        record["selection"] = sel
        if self._keep(sel):
            _write(self.out_path, self.ema, self.best, self.meta_base, self.history + [record])

    def _keep(self, sel: dict[str, Any]) -> bool:
        if self.best is not None and _selection_key(sel) < _selection_key(self.best["metrics"]):
            return False
        self.best = {"step": self.step, "metrics": sel, "state": copy.deepcopy(self.ema.state_dict())}
        return True

    def save(self, state_path: str | Path, elapsed: float) -> None:
        """Rewrite the resumable state (atomically)."""
        state = {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.opt.state_dict()}
        state.update(step=self.step, loss_avg=self.loss_avg, elapsed_s=elapsed, history=self.history, best=self.best)
        save_state(state_path, {**state, "train_config": self.recipe, "data_hash": self.data_hash, "rng": self.rng})

    def finish(self, elapsed: float) -> TrainResult:
        """A last evaluation, then the chosen weights (the best on the selection split, else the last EMA) written
        with their metadata and the training curve."""
        if self.select_s:
            sel = self._judge()
            self.history.append({"step": self.step, "selection": sel, "loss": self.loss_avg, "elapsed_s": elapsed})
            self._keep(sel)
        else:
            self.best = {"step": self.step, "metrics": {}, "state": copy.deepcopy(self.ema.state_dict())}
        self.ema.load_state_dict(self.best["state"])
        _write(self.out_path, self.ema, self.best, self.meta_base, self.history)
        curve = _plot_curve(self.history, self.out_path.with_suffix(".png"))
        best = self.best
        return TrainResult(self.out_path, self.step, best["step"], best["metrics"], self.history, curve)


def _score(
    model: EDGSPNet,
    samples: list[Sample],
    device: torch.device,
    styled: StyledFrames | None = None,
    style_share: float = 0.0,
) -> dict[str, Any]:
    """Selection figures (centroid points, BBM). With `styled` ({style: (alpha, restyled frames)}), a prior-following
    run is judged on the mix it trains for: IoU = (1 - share) * IoU at the default prior + share * the mean IoU
    of the styles, each at its alpha; Pd the lowest and Fat the highest of them all."""
    net = copy.deepcopy(model).to(memory_format=torch.contiguous_format).eval()
    pred = Predictor(net, device)
    keys = ("iou", "pd", "fat", "fa", "n_fallback", "n_adhesion")
    res = evaluate_predictor(pred, samples, "centroid")
    out = {k: res[k] for k in keys}
    if not styled:
        return out
    by_style = {}
    for name, (alpha, frames) in styled.items():
        r = evaluate_predictor(pred.with_coldstart({"alpha": alpha}), frames, "centroid")
        by_style[name] = {k: r[k] for k in keys}
    runs = [out, *by_style.values()]
    out = {
        **out,
        "iou": (1 - style_share) * out["iou"] + style_share * float(np.mean([r["iou"] for r in by_style.values()])),
        "pd": min(r["pd"] for r in runs),
        "fat": max(r["fat"] for r in runs),
        "iou_default_prior": out["iou"],
        "iou_by_style": {k: r["iou"] for k, r in by_style.items()},
    }
    return out


def _write(path: Path, ema: EDGSPNet, best: dict, meta_base: dict, history: list) -> None:
    model = copy.deepcopy(ema)
    model.load_state_dict(best["state"])
    meta = dict(meta_base)
    meta.update(
        chosen_step=best["step"],
        selection_metrics=best["metrics"],
        model_version=f"edgsp-{model.config.size}-{meta_base['data_hash'][:8]}-s{best['step']}",
        history=[{k: v for k, v in h.items() if k != "max_steps"} for h in history if "selection" in h],
    )
    save_checkpoint(path, model.to(memory_format=torch.contiguous_format), meta)


def _progress_bar(total: int, show: bool):  # noqa: ANN202 - tqdm or a no-op stand-in
    from tqdm import tqdm

    return tqdm(total=total, disable=not show, mininterval=10.0, desc="train", unit="step")


def _plot_curve(history: list[dict[str, Any]], path: Path) -> Path | None:
    """Training loss (smoothed) and selection IoU/Pd against step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history if "loss" in h and h["loss"] is not None]
    losses = np.array([h["loss"] for h in history if "loss" in h and h["loss"] is not None], dtype=float)
    if len(losses) == 0:
        return None
    k = max(1, len(losses) // 100)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(steps[k - 1 :], smooth)
    ax[0].set(xlabel="step", ylabel="summed BCE (smoothed)", yscale="log", title="training loss")
    sel = [h for h in history if "selection" in h]
    if sel:
        ax[1].plot([h["step"] for h in sel], [h["selection"]["iou"] for h in sel], "o-", label="IoU (BBM)")
        ax[1].plot([h["step"] for h in sel], [h["selection"]["pd"] for h in sel], "s--", label="Pd")
        ax[1].legend()
    ax[1].set(xlabel="step", ylabel="%", title="selection split (EMA weights, centroid points)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
