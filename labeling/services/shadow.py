"""Champion and challengers: candidates predict the frames confirmed after they were made, in the background, as the
serving generator does, and one is promoted when its record on those fresh frames beats the serving one's.

The rule (ml.metrics.paired_gain_test, `retrain.gate_confidence`, 0.95): a paired sign-flip test of the pooled IoU
gain on the frames both have scored. It needs five fresh frames that all favour the candidate when the gain is
20 points, and dozens when the gain is one point in frame-to-frame noise. Pd and Fat must stay within their
tolerances. After a promotion the replaced generator keeps predicting (the guard) for `retrain.guard_frames`
frames; if its record on the frames since the promotion beats the new one's (`retrain.rollback_confidence`,
0.8: a proven generator needs less evidence to come back), the promotion is rolled back. A candidate that the
same test says is surely worse is rejected at once, and one that has not won after `retrain.shadow_max_frames`
(80) fresh frames too, so the work per frame stays bounded while a small real gain still has time to show.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef

from labeling import ml_adapter
from labeling.choices import GeneratorKind, ImageStatus, ModelStatus, ScoreKind
from labeling.models import FrameScore, Image, ModelVersion, Project
from labeling.permissions import operator
from labeling.services.audit import audit_log
from labeling.services.prequential import FrameTruth, frame_iou, frame_truth, record_replay, score_counts
from labeling.services.projects import project_settings
from labeling.services.serving import (
    base_weights_seen,
    checkpoint_path,
    default_spec,
    generator_key,
    generator_label,
    serve,
    serving_model,
    version_of_key,
    version_spec,
)

MAX_CANDIDATES = 4  # live challengers at once; beyond, the worst record is rejected (bounded work per frame)


def _spec(project: Project, version: ModelVersion | None) -> ml_adapter.GeneratorSpec:
    return version_spec(version) if version is not None else default_spec(project)


def candidates(project: Project) -> list[ModelVersion]:
    """The challengers in shadow (finished, checkpoint on disk), oldest first."""
    out = []
    for version in ModelVersion.objects.filter(project=project, status=ModelStatus.CANDIDATE).order_by("pk"):
        if version.kind == GeneratorKind.EDGSP:
            path = checkpoint_path(version)
            if not path or not _is_file(path):
                continue
        out.append(version)
    return out


def _is_file(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()


def guard_of(project: Project, champion: ModelVersion | None) -> tuple[str, ModelVersion | None] | None:
    """The generator the champion replaced, while it still guards (its key and version; None: no guard)."""
    if champion is None:
        return None
    gate = champion.gate or {}
    key = gate.get("replaced")
    if not key or gate.get("guard_done"):
        return None
    version = version_of_key(project, key)
    if key != "default" and version is None:
        return None
    return key, version


def live_generators(project: Project) -> list[tuple[str, ModelVersion | None]]:
    """Every generator that scores new frames: the champion, the challengers and the guard (keys unique)."""
    champion = serving_model(project)
    out = [(generator_key(champion), champion)]
    out += [(generator_key(v), v) for v in candidates(project)]
    guard = guard_of(project, champion)
    if guard is not None:
        out.append(guard)
    seen: set[str] = set()
    return [(k, v) for k, v in out if not (k in seen or seen.add(k))]


def is_fresh(version: ModelVersion | None, spec: ml_adapter.GeneratorSpec, image: Image, base_seen: frozenset) -> bool:
    """May this frame count for the generator: confirmed after its data were taken, not among its own frames, and
    (EDGSP) not one the base weights every EDGSP version descends from were trained on."""
    if spec.method == ml_adapter.EDGSP and image.content_hash in base_seen:
        return False
    if version is None:
        return True
    since = version.snapshot_at or version.created_at
    if image.first_confirmed_at is None or image.first_confirmed_at <= since:
        return False
    return image.pk not in set(version.trained_on or [])


def frame_replay(project: Project, truth: FrameTruth) -> dict[str, float | None]:
    """Every live generator that may count the frame predicts it from the confirmed points; its IoU per key."""
    seen = base_weights_seen()
    out: dict[str, float | None] = {}
    for key, version in live_generators(project):
        spec = _spec(project, version)
        if is_fresh(version, spec, truth.image, seen):
            out[key] = frame_iou(record_replay(truth, key, spec, generator_label(version, spec)))
    return out


def catch_up(project: Project, key: str, version: ModelVersion | None, limit: int = 200) -> int:
    """Replay a generator on the fresh confirmed frames it has no record of yet (a candidate that finished training
    after frames arrived, or a scoring job that was lost), oldest first; returns how many were scored."""
    spec = _spec(project, version)
    since = None if version is None else (version.snapshot_at or version.created_at)
    if version is None:
        champion = serving_model(project)
        if champion is not None:
            return 0  # the project's settings score only while they serve or guard (their records start there)
        since = _default_since(project)
    done = FrameScore.objects.filter(image=OuterRef("pk"), kind=ScoreKind.REPLAY, generator_key=key)
    images = (
        Image.objects.filter(project=project, status=ImageStatus.CONFIRMED, first_confirmed_at__isnull=False)
        .filter(**({"first_confirmed_at__gt": since} if since else {}))
        .exclude(Exists(done))
        .order_by("first_confirmed_at", "pk")[:limit]
    )
    seen = base_weights_seen()
    n = 0
    for image in images:
        if is_fresh(version, spec, image, seen):
            record_replay(frame_truth(image), key, spec, generator_label(version, spec))
            n += 1
    return n


def _default_since(project: Project) -> Any:
    """The project's own settings score from the last time they started to serve (the last retirement or
    rollback to them), else from the start."""
    last = (
        ModelVersion.objects.filter(project=project, promoted_at__isnull=False)
        .exclude(status=ModelStatus.PROMOTED)
        .order_by("-promoted_at")
        .values_list("promoted_at", flat=True)
        .first()
    )
    return last


def paired_records(
    project: Project, key_a: str, key_b: str, since: Any = None
) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """Both generators' replay counts on the frames both scored (optionally those first confirmed after `since`),
    in the stream's order."""
    rows = FrameScore.objects.filter(project=project, kind=ScoreKind.REPLAY, generator_key__in=[key_a, key_b])
    if since is not None:
        rows = rows.filter(image__first_confirmed_at__gt=since)
    by_key: dict[str, dict[int, dict[str, int]]] = {key_a: {}, key_b: {}}
    order: dict[int, Any] = {}
    for row in rows.select_related("image").only("image__first_confirmed_at", *_COUNT_FIELDS):
        by_key[row.generator_key][row.image_id] = score_counts(row)
        order[row.image_id] = (row.image.first_confirmed_at, row.image_id)
    common = sorted(set(by_key[key_a]) & set(by_key[key_b]), key=lambda i: order[i])
    return [by_key[key_a][i] for i in common], [by_key[key_b][i] for i in common]


_COUNT_FIELDS = (
    "image_id",
    "generator_key",
    "inter",
    "union",
    "n_targets",
    "n_matched",
    "n_false",
    "false_pixels",
    "n_pixels",
    "n_merged",
)


def compare(project: Project, key_a: str, key_b: str, confidence: float, since: Any = None) -> dict[str, Any]:
    """a against b on their common fresh frames: both pooled figures and the paired test."""
    a, b = paired_records(project, key_a, key_b, since)
    test = ml_adapter.gain_test(a, b, confidence) if a else {"gain": 0.0, "p_value": 1.0, "n": 0, "significant": False}
    # The same test the other way: is b surely better than a? (A clearly worse candidate need not wait its window.)
    worse = ml_adapter.gain_test(b, a, confidence) if a else {"significant": False}
    return {
        "n_frames": len(a),
        "test": test,
        "surely_worse": bool(worse["significant"]),
        "candidate": ml_adapter.pooled(a) if a else {},
        "serving": ml_adapter.pooled(b) if b else {},
        "confidence": confidence,
    }


def _within_tolerance(figures: dict[str, Any], policy: dict[str, Any]) -> tuple[bool, str]:
    cand, serv = figures["candidate"], figures["serving"]
    if cand["pd"] < serv["pd"] - float(policy["pd_tolerance"]):
        return False, f"Pd {cand['pd']:.1f} is below {serv['pd']:.1f} beyond the {policy['pd_tolerance']} tolerance"
    if cand["fat"] > serv["fat"] + float(policy["fat_tolerance"]):
        return False, f"Fat {cand['fat']:.1f} is above {serv['fat']:.1f} beyond the {policy['fat_tolerance']} tolerance"
    return True, ""


def _describe(figures: dict[str, Any]) -> str:
    test, n = figures["test"], figures["n_frames"]
    if not n:
        return "no fresh frame scored yet"
    cand, serv = figures["candidate"]["iou"], figures["serving"]["iou"]
    return (
        f"IoU {cand:.1f} vs {serv:.1f} ({test['gain']:+.1f}) on {n} fresh frames, better on {test.get('wins', 0)}, "
        f"p = {test['p_value']:.3f}"
    )


def confirmed_count(project: Project) -> int:
    return Image.objects.filter(project=project, status=ImageStatus.CONFIRMED).count()


@transaction.atomic
def loop_decide(project: Project) -> list[dict[str, Any]]:
    """Apply the rule to the guard and every challenger now; returns what was decided (for the job and the log).
    The project row is locked, so two frames scored at once never promote twice."""
    Project.objects.select_for_update().get(pk=project.pk)
    policy = project_settings(project)["retrain"]
    confidence = float(policy["gate_confidence"])
    champion = serving_model(project)
    decisions = _guard_decide(project, champion, policy)
    if any(d["action"] == "rollback" for d in decisions):
        champion = serving_model(project)
    champion_key = generator_key(champion)
    eligible: list[tuple[float, float, ModelVersion, dict[str, Any]]] = []
    live = [(v, compare(project, generator_key(v), champion_key, confidence)) for v in candidates(project)]
    for version, figures in _over_the_limit(live):
        reason = f"more than {MAX_CANDIDATES} candidates in shadow: the worst record so far makes room"
        decisions.append(_reject(version, f"{reason} ({_describe(figures)})", figures))
        live.remove((version, figures))
    for version, figures in live:
        test, n = figures["test"], figures["n_frames"]
        ok, why = _within_tolerance(figures, policy) if n else (False, "")
        text = _describe(figures)
        if test["significant"] and ok:
            eligible.append((test["p_value"], -test["gain"], version, figures))
            continue
        if figures["surely_worse"]:
            decisions.append(_reject(version, f"kept the serving generator: {text}; surely worse", figures))
            continue
        if n >= int(policy["shadow_max_frames"]):
            decisions.append(_reject(version, f"kept the serving generator: {text}; no sure gain", figures))
            continue
        need = f"needs p ≤ {1 - confidence:.2f} (at least {test.get('min_frames', '?')} frames)"
        reason = f"in shadow: {text}; " + (why if why else need)
        version.gate = {**(version.gate or {}), **_gate_fields(figures), "reason": reason, "decision": "wait"}
        version.save(update_fields=["gate"])
        decisions.append({"action": "wait", "version": version.pk, "key": generator_key(version), "reason": reason})
    if eligible:
        _, _, version, figures = min(eligible, key=lambda e: (e[0], e[1]))
        decisions.append(_promote(project, version, champion, figures, policy))
    return decisions


def _over_the_limit(live: list[tuple[ModelVersion, dict[str, Any]]]) -> list[tuple[ModelVersion, dict[str, Any]]]:
    """The candidates beyond MAX_CANDIDATES that leave: the lowest IoU gain over the serving generator on their
    fresh frames (none scored yet counts as no gain), the oldest first among equals. Why not simply the oldest:
    the oldest may be the best (the base weights, in shadow from the first frame, were pushed out by a burst of
    early calibrations just before their record could promote them)."""
    excess = len(live) - MAX_CANDIDATES
    if excess <= 0:
        return []

    def record(i: int) -> tuple[float, int]:
        figures = live[i][1]
        return (float(figures["test"].get("gain", 0.0)) if figures["n_frames"] else 0.0, i)

    leaving = sorted(sorted(range(len(live)), key=record)[:excess])
    return [live[i] for i in leaving]


def _gate_fields(figures: dict[str, Any]) -> dict[str, Any]:
    test = figures["test"]
    return {
        "n_fresh": figures["n_frames"],
        "candidate": figures["candidate"],
        "serving": figures["serving"],
        "iou_gain": {k: test.get(k) for k in ("gain", "p_value", "n", "wins", "losses", "min_frames")},
        "confidence": figures["confidence"],
    }


def _reject(version: ModelVersion, reason: str, figures: dict[str, Any] | None = None) -> dict[str, Any]:
    version.status = ModelStatus.REJECTED
    version.gate = {**(version.gate or {}), **(_gate_fields(figures) if figures else {}), "reason": reason}
    version.gate["decision"] = "reject"
    version.save(update_fields=["status", "gate"])
    audit_log(actor=None, project=version.project_id, action="loop.reject", obj=version, data={"reason": reason})
    return {"action": "reject", "version": version.pk, "key": generator_key(version), "reason": reason}


def _promote(
    project: Project, version: ModelVersion, champion: ModelVersion | None, figures: dict[str, Any], policy: dict
) -> dict[str, Any]:
    frame = confirmed_count(project)
    reason = f"promoted at {frame} confirmed frames: {_describe(figures)}"
    serve(version)
    version.gate = {
        **(version.gate or {}),
        **_gate_fields(figures),
        "reason": reason,
        "decision": "promote",
        "promoted": True,
        "promoted_at_frame": frame,
        "replaced": generator_key(champion),
        "guard_done": False,
    }
    version.save()
    audit_log(
        actor=None,
        project=project,
        action="loop.promote",
        obj=version,
        data={"reason": reason, "replaced": generator_key(champion), **_gate_fields(figures)},
    )
    if policy.get("prelabel_on_promote"):
        from labeling.services.prelabel import project_prelabel_request

        with operator():  # the loop's own follow-up of its promotion
            project_prelabel_request(project=project, actor=None)
    from labeling.services.ranking import rank_after_promotion

    rank_after_promotion(project)
    return {"action": "promote", "version": version.pk, "key": generator_key(version), "reason": reason}


def _guard_decide(project: Project, champion: ModelVersion | None, policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Roll the last promotion back when the replaced generator's record since then is better; end the guard
    after `guard_frames` frames."""
    guard = guard_of(project, champion)
    if guard is None or champion is None:
        return []
    key, replaced = guard
    figures = compare(
        project, key, generator_key(champion), float(policy["rollback_confidence"]), since=champion.promoted_at
    )
    test = figures["test"]
    if test["significant"]:
        reason = f"rolled back: the generator it replaced did better since the promotion ({_describe(figures)})"
        if replaced is not None:
            serve(replaced)
            replaced.gate = {**(replaced.gate or {}), "reason": "back in service after a rollback"}
            replaced.save()
        champion.status = ModelStatus.REJECTED
        champion.gate = {**(champion.gate or {}), "reason": reason, "decision": "rollback", "guard_done": True}
        champion.save(update_fields=["status", "gate"])
        audit_log(
            actor=None,
            project=project,
            action="loop.rollback",
            obj=champion,
            data={"reason": reason, "back_to": key, **_gate_fields(figures)},
        )
        return [{"action": "rollback", "version": champion.pk, "key": generator_key(champion), "reason": reason}]
    if figures["n_frames"] >= int(policy["guard_frames"]):
        champion.gate = {**(champion.gate or {}), "guard_done": True, "guard": _gate_fields(figures)}
        champion.save(update_fields=["gate"])
        return [{"action": "guard_done", "version": champion.pk, "key": generator_key(champion)}]
    return []
