"""The only door from the web app into ml/: arrays in, instance masks out; warm models cached per process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COLDSTART = "coldstart"
EDGSP = "edgsp"


@dataclass(frozen=True)
class GeneratorSpec:
    """Which generator makes a project's masks: the cold start, or EDGSP with a given checkpoint."""

    method: str = COLDSTART
    alpha: float = 0.35
    use_grabcut: bool = False  # ml.coldstart's default: LCG alone scored best on SIRST train
    size_rule: bool = True  # the cold start's size rule (ml.coldstart.ColdStartParams.size_alpha_factor)
    checkpoint: str = ""
    model_version_id: int | None = None
    device: str = "cpu"
    # EDGSP only: cold-start settings (ColdStartParams fields) its prior channel is made with instead of the
    # checkpoint's, e.g. (("alpha", 0.1),) from the project's calibration; () keeps the checkpoint's.
    prior: tuple[tuple[str, Any], ...] = ()
    # Open a 1-px gap where touching targets meet (SIRST's convention): EDGSP's BBM split, the cold start's
    # `separate`. A version trained, or a cold start calibrated, on frames whose confirmed masks touch turns it off
    # (services.training, services.calibration): it draws the team's convention.
    gaps: bool = True

    def coldstart_params(self) -> dict[str, Any]:
        """The ColdStartParams fields this spec sets (cold start only)."""
        from ml.coldstart import ColdStartParams

        factor = ColdStartParams().size_alpha_factor if self.size_rule else None
        return {
            "alpha": self.alpha,
            "use_grabcut": self.use_grabcut,
            "size_alpha_factor": factor,
            "separate": self.gaps,
        }


@dataclass
class GenerationOutput:
    masks: list[np.ndarray]  # one bool (H, W) instance mask per point, in input order
    fallback: list[bool]
    adhesion: list[bool]
    generator: str
    model_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    prob: np.ndarray | None = None  # EDGSP: the (H, W) probability map its masks were thresholded from
    threshold: float = 0.5


_lock = threading.Lock()
_predictors: dict[tuple[str, str], Any] = {}
_threads_set = False


def configure_torch(threads: int) -> None:
    """One torch thread setting per process (called once when a worker process starts)."""
    global _threads_set
    if _threads_set:
        return
    import torch

    torch.set_num_threads(max(1, threads))
    _threads_set = True


def _predictor(checkpoint: str, device: str) -> Any:
    """Load a checkpoint once per process; a newly promoted version has a new path and loads fresh."""
    from ml.inference import Predictor

    key = (checkpoint, device)
    with _lock:
        predictor = _predictors.get(key)
        if predictor is None:
            predictor = Predictor.load(checkpoint, device=device)
            _predictors.clear()  # keep one warm model per process: the serving one
            _predictors[key] = predictor
    return predictor


def committed_weights() -> Path | None:
    """The weights committed in ml/weights/, if present (which base weights serve is serving.base_weights's call)."""
    from ml.inference import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.is_file() else None


def checkpoint_seen(path: Path) -> frozenset[str]:
    """SHA-256 of every frame a checkpoint was trained or selected on (its metadata; empty when unknown), cached
    per file version: the leak guard asks for it on every scored frame."""
    key = (str(path), path.stat().st_mtime_ns)
    if _seen_cache.get("key") != key:
        from ml.checkpoints import read_checkpoint

        _seen_cache.update(key=key, seen=frozenset(read_checkpoint(path)["meta"].get("seen_sha256", [])))
    return _seen_cache["seen"]


_seen_cache: dict[str, Any] = {}


def generate_masks(
    pixels: np.ndarray, points: np.ndarray, spec: GeneratorSpec, tightness: list[float | None] | None = None
) -> GenerationOutput:
    """Instance masks for every point (x, y) of one image, with the flags the reviewer needs."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    start = time.perf_counter()
    prob, threshold = None, 0.5
    if spec.method == EDGSP and spec.checkpoint:
        predictor = _predictor(spec.checkpoint, spec.device)
        if spec.prior:
            predictor = predictor.with_coldstart(dict(spec.prior))
        result = predictor.predict(pixels, points, gaps=spec.gaps)
        masks = [np.asarray(m, dtype=bool) for m in result.masks]
        fallback = [bool(f) for f in result.fallback]
        adhesion = [bool(a) for a in result.adhesion]
        params = {"checkpoint": Path(spec.checkpoint).name, "device": spec.device}
        if spec.prior:
            params["prior"] = dict(spec.prior)
        if not spec.gaps:
            params["gaps"] = False
        prob, threshold = result.prob, predictor.threshold
    else:
        from ml.coldstart import ColdStartParams, point_prompt_masks

        params_obj = ColdStartParams(**spec.coldstart_params())
        result = point_prompt_masks(pixels, points, params_obj, alphas=tightness)
        masks = [np.asarray(m, dtype=bool) for m in result.masks]
        fallback = [bool(f) for f in result.fallback]
        adhesion = [False] * len(masks)
        params = {"alpha": spec.alpha, "use_grabcut": spec.use_grabcut, "size_rule": spec.size_rule}
        if not spec.gaps:
            params["gaps"] = False
    seconds = time.perf_counter() - start
    return GenerationOutput(masks, fallback, adhesion, spec.method, seconds, params, prob, threshold)


def mask_review_flags(
    mask: np.ndarray, own: np.ndarray, coverage: np.ndarray, fallback: bool, adhesion: bool, large: int
) -> list[str]:
    """A generated mask's review flags (ml.postprocess.review_flags): fallback, adhesion, too_large."""
    from ml.postprocess import review_flags

    return review_flags(mask, own, coverage, fallback, adhesion, large)


def masks_touch(instances: list[np.ndarray]) -> bool:
    """Whether two of one frame's target masks overlap or are 8-adjacent (ml.postprocess.instances_touch)."""
    from ml.postprocess import instances_touch

    return instances_touch(instances)


# --- Candidate targets on frames without points (labeling.services.suggestions) ------------------------------

DETECTOR = "detector"


@dataclass
class Candidates:
    points: np.ndarray  # (N, 2) float64 (x, y), strongest first
    scores: np.ndarray  # (N,) the proposer's confidence
    source: str  # which proposer made them, stored with each suggestion
    params: dict[str, Any] = field(default_factory=dict)


def propose_targets(pixels: np.ndarray) -> Candidates:
    """Candidate targets of a frame nobody has clicked: ml.detection's local-contrast detector, whichever generator
    serves the project. EDGSP answers a point prompt with a mask; with no point it has no question to answer (an
    empty prompt is nothing it was trained on), so it cannot propose. A learned proposer (a detection head, or a
    served model scoring a grid of prompts) plugs in here: choose it, return its Candidates with its own `source`,
    and every caller (the batch job, the API, the labeler) works unchanged."""
    from dataclasses import asdict

    from ml.detection import DetectorParams, detect_targets

    params = DetectorParams()
    found = detect_targets(pixels, params)
    settings = {**asdict(params), "scales": list(params.scales)}
    return Candidates(np.asarray(found.points, np.float64), np.asarray(found.scores, np.float64), DETECTOR, settings)


# --- Sequences (labeling.services.sequences) ------------------------------------------------------------------


def carry_points(pixels: np.ndarray, points: np.ndarray) -> Any:
    """The previous frame's (x, y) points moved onto their targets' peaks in this frame (ml.tracking.carry_points:
    .points, .scores in noise levels, .sure)."""
    from ml.tracking import carry_points as _carry

    return _carry(pixels, points)


def previous_mask_tightness(
    pixels: np.ndarray, points: np.ndarray, hints: list[np.ndarray | None], moves: np.ndarray, spec: GeneratorSpec
) -> list[float | None]:
    """Per carried point, the cold-start alpha that redraws its previous frame's mask (`hints`, moved by `moves`
    (N, 2) dx, dy) here best (ml.tracking.fit_tightness), with the serving cold start's settings `spec`; None where
    there is no previous mask."""
    from ml.coldstart import ColdStartParams
    from ml.tracking import fit_tightness, shift_mask

    params = ColdStartParams(**spec.coldstart_params())
    moved = [None if h is None else shift_mask(h, dx, dy) for h, (dx, dy) in zip(hints, moves, strict=True)]
    return fit_tightness(pixels, points, moved, params)


# --- Active claim order (labeling.services.ranking) ----------------------------------------------------------


def frame_uncertainty(
    pixels: np.ndarray, points: np.ndarray | None, serving: GeneratorSpec, other: GeneratorSpec
) -> dict[str, Any]:
    """How unsure the generators are about a frame (ml.uncertainty): the serving generator and `other` (the other
    kind) each draw the frame's `points`, or the detector's candidates when it has none. Returns the
    score, its parts, how many points and where they came from."""
    from ml.uncertainty import frame_uncertainty as _uncertainty

    source = "targets"
    if points is None or len(points) == 0:
        found = propose_targets(pixels)
        points, source = found.points, DETECTOR
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return {"score": 0.0, "parts": {}, "n_points": 0, "points": source}
    a = generate_masks(pixels, points, serving)
    b = generate_masks(pixels, points, other)
    net = a if a.prob is not None else b
    flags = [any(f) for f in zip(a.fallback, a.adhesion, b.fallback, b.adhesion, strict=True)]
    result = _uncertainty(a.masks, b.masks, flags, points, net.prob, net.threshold)
    return {"score": result.score, "parts": result.parts, "n_points": result.n_points, "points": source}


def calibrate_alpha(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], gaps: bool = True) -> dict[str, Any]:
    """Choose the cold start's alpha (on the wide grid, 0.02-0.7), GrabCut on/off and the size rule on/off on
    confirmed (image, points (N, 2) (x, y), union mask), with or without the 1-px gap between touching targets."""
    from ml.calibration import WIDE_GRID
    from ml.calibration import calibrate_alpha as _calibrate
    from ml.coldstart import ColdStartParams

    result = _calibrate(samples, grid=WIDE_GRID, params=ColdStartParams(separate=gaps), compare_size_rule=True)
    return {
        "alpha": float(result.best_alpha),
        "use_grabcut": bool(result.best_use_grabcut),
        "size_rule": bool(result.best_size_rule),
        "table": result.table,
        "n_images": result.n_images,
        "n_targets": result.n_targets,
    }


def checkpoint_follows_prior(checkpoint: str) -> bool:
    """Whether an EDGSP checkpoint was trained to follow its prior's alpha (so a calibrated alpha steers it)."""
    path = Path(checkpoint)
    if not path.is_file():
        return False
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _follows_cache:
        from ml.checkpoints import read_checkpoint

        _follows_cache[key] = bool(read_checkpoint(path)["meta"].get("prior_follows_alpha", False))
    return _follows_cache[key]


_follows_cache: dict[tuple[str, int], bool] = {}


# --- Learning loop: fine-tuning and scoring (labeling.services.training) ---------------------------------------

# Training settings a project (or a test, or the bench) may override; anything else stays the ml recipe's.
TRAIN_OVERRIDES = ("batch_size", "crop_size", "eval_every", "max_steps", "lr", "warmup_steps", "ema_decay")


class TrainingStopped(Exception):
    """Raised by a progress callback to stop `fit` (e.g. the job was cancelled)."""


def train(
    samples: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    init_checkpoint: str | None,
    out_path: str,
    time_budget_s: float,
    seed: int = 0,
    device: str = "cpu",
    threads: int = 1,
    overrides: dict[str, Any] | None = None,
    prior: dict[str, Any] | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Fine-tune from `init_checkpoint` (a new small net when None) on (id, image, union mask, points (N, 2)
    (x, y) or None) samples and write the checkpoint to `out_path`. The humans' points prompt the net (touching
    targets are one blob of the union mask: its centroid would be a wrong prompt). Every sample trains: the
    loop judges the result on frames confirmed later, so no selection split is carved from a few frames.
    `prior`: cold-start settings for the prior channel (e.g. the project's calibrated alpha), stored with the
    weights. `progress(record)` gets each step's record; it may raise TrainingStopped."""
    from ml.config import TrainConfig
    from ml.data import Sample
    from ml.train import fit

    known = {k: v for k, v in (overrides or {}).items() if k in TRAIN_OVERRIDES}
    base = dict(seed=seed, device=device, threads=threads, select_fraction=0.0, **known)
    config = TrainConfig.for_finetune(**base) if init_checkpoint else TrainConfig(**base)
    data = [
        Sample(str(i), image, np.asarray(mask, dtype=bool), _points_or_none(points))
        for i, image, mask, points in samples
    ]
    result = fit(
        data,
        config,
        init_checkpoint=init_checkpoint,
        time_budget_s=time_budget_s,
        progress_callback=progress,
        out_path=out_path,
        show_progress=False,
        coldstart_overrides=prior or None,
    )
    return {
        "checkpoint": str(result.checkpoint_path),
        "steps": result.steps,
        "chosen_step": result.chosen_step,
        "selection": {k: v for k, v in result.metrics.items() if isinstance(v, int | float)},
        "arch": f"edgsp-{_checkpoint_size(result.checkpoint_path)}",
    }


def _points_or_none(points: np.ndarray | None) -> np.ndarray | None:
    if points is None:
        return None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts if len(pts) else None


def _checkpoint_size(path: Any) -> str:
    from ml.checkpoints import read_checkpoint

    return str(read_checkpoint(path)["model_config"].get("size", "small"))


def _accumulate(spec: GeneratorSpec, samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Any:
    """ml.metrics' accumulator of the generator `spec` on (image, points (N, 2) (x, y), union mask) samples,
    prompted with the humans' own points."""
    from ml.metrics import accumulate

    preds, gts = [], []
    for pixels, points, mask in samples:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        union = np.zeros(mask.shape, dtype=bool)
        if len(points):
            for m in generate_masks(pixels, points, spec).masks:
                union |= m
        preds.append(union)
        gts.append(np.asarray(mask, dtype=bool))
    return accumulate(preds, gts)


def _figures(acc: Any) -> dict[str, float]:
    return {k: float(v) for k, v in acc.result().items()}


def score(spec: GeneratorSpec, samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """IoU, Pd, Fat, Fa (ml.metrics) of the generator `spec` on (image, points, union mask) samples."""
    return _figures(_accumulate(spec, samples))


def score_with_interval(
    spec: GeneratorSpec, samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """`score`'s figures plus iou_low / iou_high, the 95 % bootstrap interval of the IoU over the samples."""
    from ml.metrics import iou_interval

    acc = _accumulate(spec, samples)
    low, high = iou_interval(acc.image_inter, acc.image_union)
    return {**_figures(acc), "iou_low": low, "iou_high": high}


def compare(
    candidate: GeneratorSpec,
    serving: GeneratorSpec,
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    confidence: float,
) -> dict[str, Any]:
    """Both generators' figures on the same samples, and the paired-bootstrap bound on the candidate's IoU gain."""
    from ml.metrics import iou_gain_bootstrap

    a, b = _accumulate(candidate, samples), _accumulate(serving, samples)
    return {"candidate": _figures(a), "serving": _figures(b), "iou_gain": iou_gain_bootstrap(a, b, confidence)}


# --- Learning loop: per-frame records and the shadow rule (labeling.services.prequential / shadow) ----------


def frame_record(instances: list[np.ndarray], truths: list[np.ndarray], points: np.ndarray) -> dict[str, int]:
    """Counts of one frame (ml.metrics.instance_counts): each target's mask against its confirmed mask, pixels
    pooled over the unions, targets matched pairwise (touching targets still count one by one), and n_merged:
    masks that also cover another target's point."""
    from ml.metrics import instance_counts

    return instance_counts(instances, truths, np.asarray(points, dtype=np.float64).reshape(-1, 2))


def union_counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """One frame's counts of a union mask against the true union (ml.metrics.frame_counts: targets are the unions'
    components, as in the benchmarks)."""
    from ml.metrics import frame_counts

    return frame_counts(np.asarray(pred, bool), np.asarray(truth, bool))


def generator_instances(spec: GeneratorSpec, pixels: np.ndarray, points: np.ndarray) -> list[np.ndarray]:
    """The instance masks `spec` makes for the points (empty list for no points)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not len(pts):
        return []
    return generate_masks(pixels, pts, spec).masks


def pooled(rows: list[dict[str, int]]) -> dict[str, float]:
    """IoU, Pd, Fat (%), Fa (1e-6) of frames given by their counts."""
    from ml.metrics import pooled_figures

    return {k: float(v) for k, v in pooled_figures(rows).items()}


def gain_test(a: list[dict[str, int]], b: list[dict[str, int]], confidence: float) -> dict[str, Any]:
    """The paired sign-flip test of a's pooled-IoU gain over b's on the same frames (ml.metrics)."""
    from ml.metrics import paired_gain_test

    return paired_gain_test(
        [r["inter"] for r in a], [r["union"] for r in a], [r["inter"] for r in b], [r["union"] for r in b], confidence
    )
