"""Reads, always scoped by the requesting user: a non-member gets Http404 for every object of a project."""

import bisect
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404

from labeling import ml_adapter
from labeling.choices import ImageStatus, JobKind, Role, ScoreKind, SuggestionState
from labeling.exceptions import ApplicationError
from labeling.models import (
    AuditLog,
    FrameScore,
    Image,
    Job,
    Mask,
    Membership,
    ModelVersion,
    Project,
    Submission,
    Suggestion,
    Target,
)
from labeling.permissions import MANAGE, REVIEW, require_role, role_of


def _role_subquery(user: Any, project_ref: str) -> Subquery:
    return Subquery(Membership.objects.filter(project=OuterRef(project_ref), user=user).values("role")[:1])


def _scoped_get(queryset: QuerySet, user: Any, project_ref: str, pk: int, label: str) -> Any:
    """Fetch by pk with the user's role in one query; 404 when absent or when the user is not a member."""
    if not getattr(user, "is_authenticated", False):
        raise Http404(f"No {label} {pk}.")
    obj = queryset.annotate(user_role=_role_subquery(user, project_ref)).filter(pk=pk, user_role__isnull=False).first()
    if obj is None:
        raise Http404(f"No {label} {pk}.")
    project = obj if isinstance(obj, Project) else _project_of(obj)
    project.user_role, project.user_role_for = obj.user_role, user.pk
    return obj


def _project_of(obj: Any) -> Project:
    if isinstance(obj, Image | Job | Membership):
        return obj.project
    if isinstance(obj, Target | Suggestion):
        return obj.image.project
    raise TypeError(f"no project path for {type(obj).__name__}")


def _require_member(user: Any, project: Project) -> None:
    if role_of(user, project) is None:
        raise Http404(f"No project {project.pk}.")


# --- Projects and members -----------------------------------------------------------------------
def project_list(*, user: Any) -> QuerySet[Project]:
    """The user's projects, each with `user_role`."""
    return Project.objects.annotate(user_role=_role_subquery(user, "pk")).filter(user_role__isnull=False).order_by("id")


def project_get(*, user: Any, project_id: int) -> Project:
    return _scoped_get(Project.objects.all(), user, "pk", project_id, "project")


def project_stats(*, user: Any, project: Project) -> dict[str, int]:
    """Image counts per status (one grouped query)."""
    _require_member(user, project)
    rows = Image.objects.filter(project=project).values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def project_dashboard(*, user: Any, project: Project) -> dict[str, Any]:
    """The dashboard's counts: images by status and by annotator, masks by state, targets (one grouped query each,
    whatever the project size)."""
    by_status = project_stats(user=user, project=project)
    images = image_list(user=user, project=project).order_by()
    rows = images.values("assigned_to_id", "assigned_to__username", "status").annotate(n=Count("id"))
    annotators: dict = {}
    for row in rows:
        key = row["assigned_to_id"]
        entry = annotators.setdefault(
            key, {"user_id": key, "username": row["assigned_to__username"], "counts": {}, "total": 0}
        )
        entry["counts"][row["status"]] = row["n"]
        entry["total"] += row["n"]
    mask_rows = Mask.objects.filter(image__in=images.values("id")).values("state").annotate(n=Count("id"))
    return {
        "by_status": by_status,
        "by_annotator": sorted(annotators.values(), key=lambda a: (a["username"] is None, a["username"] or "")),
        "masks_by_state": {row["state"]: row["n"] for row in mask_rows.order_by()},
        "images": sum(by_status.values()),
        "targets": Target.objects.filter(image__in=images.values("id")).count(),
    }


def membership_list(*, user: Any, project: Project) -> QuerySet[Membership]:
    _require_member(user, project)
    return Membership.objects.filter(project=project).select_related("user").order_by("id")


def membership_get(*, user: Any, project: Project, membership_id: int) -> Membership:
    membership = membership_list(user=user, project=project).filter(pk=membership_id).first()
    if membership is None:
        raise Http404(f"No membership {membership_id} in project {project.pk}.")
    membership.project = project  # keeps the cached role
    return membership


# --- People (the team view) ---------------------------------------------------------------------
def _managed_projects(user: Any) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user, memberships__role__in=[Role.MANAGER, Role.OWNER])


def user_list(*, user: Any, project: Project | None = None) -> QuerySet:
    """People in the projects `user` manages (everyone, for a superuser), ordered by name, each with
    `visible_memberships`: their memberships in those projects only, so a manager never learns of other projects
    (`all_memberships`, every one of them, is for the manage rule and is never shown).
    `project` narrows the people to its members (403 unless `user` manages it)."""
    if project is not None:
        require_role(user, project, MANAGE, "manage people")
    managed = _managed_projects(user)
    people = get_user_model().objects.all()
    if project is not None:
        people = people.filter(memberships__project=project)
    elif not user.is_superuser:
        people = people.filter(memberships__project__in=managed).distinct()
    visible = Membership.objects.filter(project__in=managed).select_related("project").order_by("project_id")
    every = Membership.objects.select_related("project")
    return people.prefetch_related(
        Prefetch("memberships", queryset=visible, to_attr="visible_memberships"),
        Prefetch("memberships", queryset=every, to_attr="all_memberships"),
    ).order_by("username")


def user_get(*, user: Any, user_id: int) -> Any:
    """One person for the team view: 404 unless `user` shares a project with them (a superuser sees everyone),
    403 unless `user` manages one of the shared projects."""
    if not user.is_superuser:
        shared = set(
            Membership.objects.filter(user=user, project__memberships__user_id=user_id).values_list("role", flat=True)
        )
        if not shared:
            raise Http404(f"No user {user_id} in your projects.")
        if not shared & {Role.MANAGER, Role.OWNER}:
            raise ApplicationError(
                "You need the manager role or higher in one of their projects to manage people.",
                extra={"required_role": str(Role.MANAGER)},
                status_code=403,
            )
    person = user_list(user=user).filter(pk=user_id).first()
    if person is None:
        raise Http404(f"No user {user_id}.")
    return person


# --- Images -------------------------------------------------------------------------------------
def image_list(*, user: Any, project: Project, filters: dict[str, Any] | None = None) -> QuerySet[Image]:
    """The project's images ordered by id (for keyset pagination), with `target_count`, `has_warnings` and
    `point_outside` (a mask misses its own point: the review queue shows it), and who last rejected each.

    Filters: status (list), split (list), assigned_to (a user id, or None for unassigned), has_targets, has_warnings.
    Counts are correlated subqueries, so only the rows of the page are counted.
    """
    _require_member(user, project)
    filters = filters or {}
    targets = Target.objects.filter(image=OuterRef("pk"))
    warned = Mask.objects.filter(image=OuterRef("pk")).exclude(warnings=[])
    # icontains on the JSON text: a list lookup that PostgreSQL and SQLite both run (SQLite has no JSON contains)
    outside = warned.filter(warnings__icontains='"point_outside"')
    queryset = (
        Image.objects.filter(project=project)
        .select_related("rejected_by")
        .annotate(
            target_count=Coalesce(
                Subquery(targets.order_by().values("image").annotate(n=Count("id")).values("n")[:1]),
                0,
                output_field=IntegerField(),
            ),
            has_warnings=Exists(warned),
            point_outside=Exists(outside),
        )
    )
    if filters.get("status"):
        queryset = queryset.filter(status__in=filters["status"])
    if filters.get("split"):
        queryset = queryset.filter(split__in=filters["split"])
    if "assigned_to" in filters:
        assigned = filters["assigned_to"]
        queryset = (
            queryset.filter(assigned_to__isnull=True) if assigned is None else queryset.filter(assigned_to=assigned)
        )
    if filters.get("has_targets") is not None:
        queryset = queryset.filter(Exists(targets)) if filters["has_targets"] else queryset.filter(~Exists(targets))
    if filters.get("has_warnings") is not None:
        queryset = queryset.filter(has_warnings=filters["has_warnings"])
    return queryset.order_by("id")


def image_get(*, user: Any, image_id: int) -> Image:
    return _scoped_get(Image.objects.select_related("project", "rejected_by"), user, "project_id", image_id, "image")


def image_sequence_neighbours(*, image: Image) -> dict[str, Any]:
    """The frames before and after this one in its sequence (ids or None) and the sequence's length (the image was
    already fetched for its user, so nothing new is disclosed)."""
    if not image.sequence or image.frame_index is None:
        return {"previous_id": None, "next_id": None, "length": 0}
    frames = Image.objects.filter(project_id=image.project_id, sequence=image.sequence)
    before = frames.filter(frame_index__lt=image.frame_index).order_by("-frame_index", "-pk")
    after = frames.filter(frame_index__gt=image.frame_index).order_by("frame_index", "pk")
    return {
        "previous_id": before.values_list("pk", flat=True).first(),
        "next_id": after.values_list("pk", flat=True).first(),
        "length": frames.count(),
    }


# --- Targets and masks --------------------------------------------------------------------------
def target_list(*, user: Any, image: Image) -> QuerySet[Target]:
    _require_member(user, image.project)
    return Target.objects.filter(image=image).select_related("mask").order_by("id")


def target_get(*, user: Any, target_id: int) -> Target:
    """The target with its image, project and mask (if any) joined in."""
    queryset = Target.objects.select_related("image__project", "mask")
    return _scoped_get(queryset, user, "image__project_id", target_id, "target")


def mask_list(*, user: Any, image: Image) -> QuerySet[Mask]:
    _require_member(user, image.project)
    return Mask.objects.filter(image=image).order_by("target_id")


def mask_of(target: Target) -> Mask | None:
    """The target's mask, or None (the target came from target_get, so this costs no query)."""
    try:
        return target.mask
    except Mask.DoesNotExist:
        return None


def suggestion_list(*, user: Any, image: Image) -> QuerySet[Suggestion]:
    """The image's pending suggestions, strongest first (decided ones are history; a confirmed image shows none)."""
    _require_member(user, image.project)
    if image.status == ImageStatus.CONFIRMED:
        return Suggestion.objects.none()
    return Suggestion.objects.filter(image=image, state=SuggestionState.PENDING).order_by("-score", "id")


def suggestion_get(*, user: Any, suggestion_id: int) -> Suggestion:
    queryset = Suggestion.objects.select_related("image__project")
    return _scoped_get(queryset, user, "image__project_id", suggestion_id, "suggestion")


def generation_latest(*, user: Any, image: Image) -> Job | None:
    """The image's newest mask-generation job (its masks are current once it has finished)."""
    _require_member(user, image.project)
    return Job.objects.filter(image=image, kind=JobKind.GENERATE).order_by("-id").first()


# --- Jobs, models, audit ------------------------------------------------------------------------
def job_list(*, user: Any, project: Project, filters: dict[str, Any] | None = None) -> QuerySet[Job]:
    _require_member(user, project)
    queryset = Job.objects.filter(project=project)
    filters = filters or {}
    if filters.get("status"):
        queryset = queryset.filter(status__in=filters["status"])
    if filters.get("kind"):
        queryset = queryset.filter(kind__in=filters["kind"])
    return queryset.order_by("-id")


def job_get(*, user: Any, job_id: int) -> Job:
    return _scoped_get(Job.objects.select_related("project"), user, "project_id", job_id, "job")


def model_version_get(*, user: Any, version_id: int) -> ModelVersion:
    """A project's model version (not a shipped base one), 404 unless the user is a member of its project."""
    version = ModelVersion.objects.filter(pk=version_id, project__isnull=False).first()
    if version is None:
        raise ApplicationError(f"Model version {version_id} not found.", status_code=404)
    version.project = project_get(user=user, project_id=version.project_id)
    return version


def model_version_list(*, user: Any, project: Project) -> QuerySet[ModelVersion]:
    """The project's model versions and the shipped base ones (project = null)."""
    _require_member(user, project)
    return ModelVersion.objects.filter(Q(project=project) | Q(project__isnull=True)).order_by("id")


def audit_list(*, user: Any, project: Project) -> QuerySet[AuditLog]:
    _require_member(user, project)
    require_role(user, project, MANAGE, "read the audit log")
    return AuditLog.objects.filter(project=project).select_related("actor").order_by("-id")


# --- Annotator QA ----------------------------------------------------------------------------------
QA_COUNTS = ("inter", "union", "n_targets", "n_matched", "n_false", "false_pixels", "n_pixels")


def qa_summary(*, user: Any, project: Project) -> dict[str, Any]:
    """Each annotator's submissions scored against what reviewers confirmed (services.qa): pooled IoU, Pd, Fa,
    false targets and the median edit time, and the same per day; on double-annotated frames (services.double),
    each one's agreement with the other annotator, and the project's inter-annotator IoU. Reviewer+: it judges
    people."""
    _require_member(user, project)
    require_role(user, project, REVIEW, "read the annotators' quality")
    rows = (
        Submission.objects.filter(project=project)
        .filter(Q(scored_at__isnull=False) | Q(peer__isnull=False))  # a paired pass shows before review
        .select_related("annotator")
        .order_by("submitted_at", "pk")
    )
    people: dict[Any, dict[str, Any]] = {}
    pairs = []
    for row in rows:
        who = people.setdefault(
            row.annotator_id,
            {"user": row.annotator, "rows": [], "gold": [], "seconds": [], "days": {}, "agreement": []},
        )
        if row.blind_pass is not None and row.agreement:
            who["agreement"].append(row.agreement)
            if row.blind_pass == 2:
                pairs.append(row.agreement)
        if row.scored_at is None:
            continue
        counts = {k: int(getattr(row, k)) for k in QA_COUNTS}
        who["gold" if row.reference == "gold" else "rows"].append(counts)
        who["days"].setdefault(row.submitted_at.date().isoformat(), []).append(counts)
        if row.seconds is not None:
            who["seconds"].append(row.seconds)
    annotators, series = [], []
    for user_id, who in people.items():
        name = who["user"].get_username() if who["user"] is not None else None
        seconds = sorted(who["seconds"])
        annotators.append(
            {
                "user_id": user_id,
                "username": name,
                **_qa_figures(who["rows"]),
                "gold": _qa_figures(who["gold"]) if who["gold"] else None,
                "agreement": _qa_figures(who["agreement"]) if who["agreement"] else None,
                "median_seconds": round(seconds[len(seconds) // 2], 1) if seconds else None,
            }
        )
        days = [
            {"day": day, "frames": len(day_rows), "iou": round(ml_adapter.pooled(day_rows)["iou"], 2)}
            for day, day_rows in sorted(who["days"].items())
        ]  # reviewed and gold frames alike: the annotator's course over time
        series.append({"user_id": user_id, "username": name, "days": days})
    annotators.sort(key=lambda a: (a["username"] is None, a["username"] or ""))
    series.sort(key=lambda a: (a["username"] is None, a["username"] or ""))
    waiting = Submission.objects.filter(project=project, scored_at__isnull=True).exclude(blind_pass=1).count()
    double = {
        "pairs": len(pairs),
        "iou": round(ml_adapter.pooled(pairs)["iou"], 2) if pairs else None,
        "second_pass_waiting": Submission.objects.filter(project=project, blind_pass=1, peer__isnull=True).count(),
    }
    return {"annotators": annotators, "series": series, "waiting": waiting, "double": double}


def image_double(*, user: Any, image: Image) -> dict[str, Any]:
    """A double-annotated frame's two blind passes (points, masks, who, when) and their agreement; reviewer+ (the
    annotators must not read each other's pass; the first pass's points and masks are left out until the second is
    in, since a reviewer may be the one to make it). 404 for a frame that was not labelled twice."""
    require_role(user, image.project, REVIEW, "read a frame's double annotation")
    passes = list(
        Submission.objects.filter(image=image, blind_pass__isnull=False).select_related("annotator").order_by("pk")
    )
    if not passes:
        raise Http404(f"Image {image.pk} was not labelled twice.")
    second = next((p for p in passes if p.blind_pass == 2), None)
    hidden = second is None  # a reviewer may make the second pass: the first stays out of sight until it is in
    return {
        "image_id": image.pk,
        "waiting_for_second": hidden,
        "passes": [
            {
                "blind_pass": p.blind_pass,
                "submission_id": p.pk,
                "annotator": p.annotator.get_username() if p.annotator is not None else None,
                "submitted_at": p.submitted_at,
                "seconds": p.seconds,
                "points": [] if hidden else p.points,
                "masks": [] if hidden else p.masks,
            }
            for p in passes
        ],
        "agreement": _qa_figures([second.agreement]) if second is not None and second.agreement else None,
    }


def _qa_figures(rows: list[dict[str, int]]) -> dict[str, Any]:
    figures = ml_adapter.pooled(rows) if rows else {"iou": 0.0, "pd": 0.0, "fa": 0.0, "fat": 0.0}
    return {
        "frames": len(rows),
        "targets": sum(r["n_targets"] for r in rows),
        "false_targets": sum(r["n_false"] for r in rows),
        **{k: round(figures[k], 2) for k in ("iou", "pd", "fa", "fat")},
    }


# --- The learning loop ----------------------------------------------------------------------------
LOOP_ACTIONS = ("loop.promote", "loop.rollback", "loop.reject", "loop.calibrate", "loop.train", "loop.candidate")
QUALITY_POINTS = 2000  # the curve's resolution: longer streams are pooled into this many bins
LATE_AFTER = 20  # "after the first 20 frames": what a team receives once the loop has had frames to learn from


def project_quality(*, user: Any, project: Project) -> dict[str, Any]:
    """The quality of the masks the team received: every confirmed frame's shown record in the order the frames
    were confirmed (pooled into bins on long streams), overall figures, which generator served when, and the
    loop's decisions."""
    _require_member(user, project)
    rows = list(
        FrameScore.objects.filter(project=project, kind=ScoreKind.SHOWN)
        .select_related("image")
        .order_by("image__first_confirmed_at", "image_id")
        .values("image_id", "generator", "generator_key", "image__first_confirmed_at", *COUNT_FIELDS)
    )
    counts = [{k: r[k] for k in COUNT_FIELDS} for r in rows]
    step = max(1, -(-len(rows) // QUALITY_POINTS))
    frames = []
    for start in range(0, len(rows), step):
        chunk = counts[start : start + step]
        inter, union = sum(c["inter"] for c in chunk), sum(c["union"] for c in chunk)
        last = rows[start + len(chunk) - 1]
        frames.append(
            {
                "frame": start + len(chunk),
                "image_id": last["image_id"],
                "iou": 100.0 * inter / union if union else None,
                "generator": last["generator"],
                "key": last["generator_key"],
                "missed": sum(c["n_targets"] - c["n_matched"] for c in chunk),
                "false": sum(c["n_false"] for c in chunk),
                "merged": sum(c["n_merged"] for c in chunk),
            }
        )
    summary: dict[str, Any] = {"frames": len(rows), "binned_by": step}
    if counts:
        overall = ml_adapter.pooled(counts)
        summary.update(
            mean_shown_iou=overall["iou"],
            pd=overall["pd"],
            fat=overall["fat"],
            merged=sum(c["n_merged"] for c in counts),
            late_shown_iou=ml_adapter.pooled(counts[LATE_AFTER:])["iou"] if len(counts) > LATE_AFTER else None,
            last_20_iou=ml_adapter.pooled(counts[-20:])["iou"],
        )
    times = sorted(r["image__first_confirmed_at"] for r in rows if r["image__first_confirmed_at"] is not None)
    logs = list(AuditLog.objects.filter(project=project, action__in=LOOP_ACTIONS).order_by("-id")[:100])
    ids = [int(log.object_id) for log in logs if log.object_type == "modelversion"]
    numbers = dict(ModelVersion.objects.filter(project=project, pk__in=ids).values_list("pk", "number"))
    events = []
    for log in logs:
        data = _event_data(log)
        data["number"] = numbers.get(data["version"])
        at_frame = bisect.bisect_right(times, log.created_at)
        events.append({"action": log.action, "at": log.created_at, "frame": at_frame, "data": data})
    return {"frames": frames, "summary": summary, "events": events}


COUNT_FIELDS = ("inter", "union", "n_targets", "n_matched", "n_false", "false_pixels", "n_pixels", "n_merged")


def _event_data(log: AuditLog) -> dict[str, Any]:
    """The figures of a loop decision, without anything that names a person."""
    keep = ("reason", "alpha", "use_grabcut", "size_rule", "n_images", "n_frames", "steps", "replaced", "back_to")
    data = {k: v for k, v in (log.data or {}).items() if k in keep}
    data["version"] = int(log.object_id) if log.object_type == "modelversion" else None
    return data


# --- The review gallery ---------------------------------------------------------------------------
# Warnings first (a mask that misses its own point, then any other flag), then size; the id breaks ties, so that
# (rank, area, id) is a total order and a page can start after any tile (keyset: every page costs the same).
GALLERY_ORDERS = ("large", "small")  # within a warning rank: largest masks first, or the smallest (stray pixels)


def _gallery_rank() -> Case:
    return Case(
        When(mask__warnings__icontains='"point_outside"', then=Value(2)),
        When(Q(mask__isnull=False) & ~Q(mask__warnings=[]), then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )


def gallery_targets(*, user: Any, project: Project, filters: dict[str, Any] | None = None) -> QuerySet[Target]:
    """The project's targets for the review gallery, each with its image, mask (without the RLE) and creator joined
    in, `rank` (2 point_outside, 1 another warning, 0 none) and `size` (mask area, 0 without a mask), ordered by rank
    then size (`order`: large or small first) then id.

    Filters: warning ("any", "none" or one warning's name), state (mask states; "none": no mask yet), annotator_id
    (the targets that person placed or edited, or on images they were given or submitted), after ((rank, size, id)
    of the last tile seen: the keyset).
    """
    _require_member(user, project)
    filters = filters or {}
    queryset = (
        Target.objects.filter(image__project=project)
        .select_related("image", "mask", "created_by")
        .defer("mask__rle", "mask__provenance", "image__rejection_comment")
        .annotate(rank=_gallery_rank(), size=Coalesce("mask__area", Value(0)))
    )
    warning = filters.get("warning")
    if warning == "any":
        queryset = queryset.filter(mask__isnull=False).exclude(mask__warnings=[])
    elif warning == "none":
        queryset = queryset.filter(Q(mask__isnull=True) | Q(mask__warnings=[]))
    elif warning:
        queryset = queryset.filter(mask__warnings__icontains=f'"{warning}"')
    states = list(filters.get("state") or [])
    if states:
        condition = Q(mask__state__in=[s for s in states if s != "none"])
        if "none" in states:
            condition |= Q(mask__isnull=True)
        queryset = queryset.filter(condition)
    if filters.get("annotator_id") is not None:
        person = filters["annotator_id"]
        queryset = queryset.filter(
            Q(created_by_id=person)
            | Q(mask__edited_by_id=person)
            | Q(image__assigned_to_id=person)
            | Q(image__submitted_by_id=person)
        )
    small = filters.get("order") == "small"
    if filters.get("after") is not None:
        rank, size, pk = filters["after"]
        further = Q(size__gt=size) if small else Q(size__lt=size)
        queryset = queryset.filter(Q(rank__lt=rank) | Q(rank=rank) & (further | Q(size=size, pk__gt=pk)))
    return queryset.order_by("-rank", "size" if small else "-size", "id")
