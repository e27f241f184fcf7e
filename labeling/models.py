"""Database models: fields, constraints and __str__ only; behaviour lives in services and selectors."""

from django.conf import settings as django_settings
from django.db import models

from labeling.choices import (
    GeneratorKind,
    ImageStatus,
    JobKind,
    JobStatus,
    MaskSource,
    MaskState,
    ModelStatus,
    Role,
    ScoreKind,
    Split,
    SuggestionState,
)

USER = django_settings.AUTH_USER_MODEL


def default_project_settings() -> dict:
    return {}


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Point style, generator parameters (alpha, ...), retraining policy; defaults in services.projects.
    settings = models.JSONField(default=default_project_settings, blank=True)
    created_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.project} ({self.role})"


def image_upload_path(instance: "Image", filename: str) -> str:
    # The client's file name is never used for the path: only the content hash and a safe suffix.
    suffix = {"PNG": "png", "TIFF": "tif", "JPEG": "jpg", "BMP": "bmp"}.get(instance.format, "bin")
    return f"projects/{instance.project_id}/images/{instance.content_hash[:2]}/{instance.content_hash}.{suffix}"


class Image(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=image_upload_path, max_length=300)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=8)  # PNG / TIFF / JPEG / BMP
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    dtype = models.CharField(max_length=8)  # uint8 / uint16 (of the stored pixels)
    bit_depth = models.PositiveSmallIntegerField()
    channels = models.PositiveSmallIntegerField(default=1)
    file_size = models.PositiveBigIntegerField()
    content_hash = models.CharField(max_length=64)  # sha256 of the original bytes
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)
    status = models.CharField(max_length=16, choices=ImageStatus.choices, default=ImageStatus.NEW)
    # The learning loop's frozen split: set once (stable hash of the id) when the image is first used by
    # training, never changed after, so validation only grows and never leaks into training.
    # Retired with the frozen validation gate (the loop now judges generators on frames confirmed after they were
    # made); kept so that old rows and backups stay readable.
    loop_split = models.CharField(max_length=8, choices=Split.choices, blank=True, default="")
    # The first time the image was confirmed: orders the project's stream of confirmed frames, and tells which
    # generators had not yet seen the frame then (a frame is "fresh" to a generator made before it).
    first_confirmed_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who last submitted it: with the project's "reviewer != annotator" rule, that person cannot confirm it.
    submitted_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The last rejection, kept on the image so that its annotator reads it next to the image (not only in the audit).
    rejection_comment = models.TextField(blank=True, default="")
    rejected_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rejected_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    # A frame of an ordered sequence (the pages of a multi-page TIFF, or files uploaded as one sequence): its name
    # and its place in it; "" / null for a lone frame. The labeler carries the previous frame's points to the next.
    sequence = models.CharField(max_length=255, blank=True, default="")
    frame_index = models.PositiveIntegerField(null=True, blank=True)
    # The active claim order's key (services.ranking, ml.uncertainty): how unsure the generators were about the
    # frame when it was last ranked (0..1; null: never ranked), and why (parts, points, generators, when).
    uncertainty = models.FloatField(null=True, blank=True)
    uncertainty_detail = models.JSONField(default=dict, blank=True)
    # Double annotation (services.double): whose blind first pass this frame holds while it waits for a second
    # annotator; that person may not claim, edit or submit it again.
    first_pass_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="image_unique_content")]
        indexes = [
            models.Index(fields=["project", "id"], name="image_project_id"),  # the unfiltered keyset page
            models.Index(fields=["project", "status", "id"], name="image_project_status"),
            models.Index(fields=["project", "split", "id"], name="image_project_split"),
            models.Index(fields=["project", "first_confirmed_at"], name="image_project_confirmed"),
            models.Index(fields=["project", "status", "uncertainty"], name="image_project_uncertainty"),
            models.Index(fields=["project", "sequence", "frame_index"], name="image_project_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.width}x{self.height})"


class Target(models.Model):
    """One target: a sub-pixel point, (0, 0) being the centre of the top-left pixel."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="targets")
    x = models.FloatField()
    y = models.FloatField()
    tightness = models.FloatField(null=True, blank=True)  # per-target generator alpha; null = project's
    # The object this target is across a sequence's frames (kept when a carried point is accepted); null: not
    # tracked yet (an export numbers those after the tracked ones).
    track_id = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"target {self.pk} ({self.x:.2f}, {self.y:.2f}) on image {self.image_id}"


class Suggestion(models.Model):
    """A candidate target proposed by a detector on a frame. Never a label: exports, metrics, training and the
    learning loop read Targets only, so a suggestion counts nowhere until a person accepts it (it then becomes a
    Target, `target`); a rejected one stays, so that a new detector run does not propose it again."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="suggestions")
    x = models.FloatField()  # pixel units, (0, 0) the centre of the top-left pixel, as Target
    y = models.FloatField()
    score = models.FloatField()  # the detector's confidence (ml.detection: contrast in noise levels)
    source = models.CharField(max_length=64)  # which proposer: "detector" (ml.detection) or a model version
    params = models.JSONField(default=dict, blank=True)  # the proposer's settings
    state = models.CharField(max_length=16, choices=SuggestionState.choices, default=SuggestionState.PENDING)
    target = models.ForeignKey(Target, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["image", "state"], name="suggestion_image_state")]

    def __str__(self) -> str:
        return f"suggestion {self.pk} ({self.x:.1f}, {self.y:.1f}) on image {self.image_id} ({self.state})"


class ModelVersion(models.Model):
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="models")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=GeneratorKind.choices, default=GeneratorKind.EDGSP)
    arch = models.CharField(max_length=64)
    # The generator's settings: a calibration's cold-start alpha / GrabCut / size rule, or the cold-start settings
    # an EDGSP checkpoint's prior channel is made with (empty: the checkpoint's own).
    params = models.JSONField(default=dict, blank=True)
    # Which confirmed frames made it (trained or calibrated on): they never count in its record.
    trained_on = models.JSONField(default=list, blank=True)
    # When its data were taken: frames first confirmed after this are fresh to it (null: its created_at).
    snapshot_at = models.DateTimeField(null=True, blank=True)
    checkpoint = models.CharField(max_length=500)  # path under MEDIA_ROOT, or the shipped weights' path
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.TRAINING)
    metrics = models.JSONField(default=dict, blank=True)
    curve = models.JSONField(default=list, blank=True)
    data_hash = models.CharField(max_length=64, blank=True)
    # Reproducibility of a trained version: which images (hashes of the sorted ids), seed and code made it.
    train_ids_hash = models.CharField(max_length=64, blank=True)
    val_ids_hash = models.CharField(max_length=64, blank=True)
    n_train = models.PositiveIntegerField(default=0)
    n_val = models.PositiveIntegerField(default=0)
    seed = models.IntegerField(null=True, blank=True)
    code_revision = models.CharField(max_length=64, blank=True)
    gate = models.JSONField(default=dict, blank=True)  # promotion decision: both models' figures and the reason
    job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="modelversion_unique_number")]

    def __str__(self) -> str:
        return f"{self.project or 'base'} v{self.number} ({self.status})"


class Mask(models.Model):
    """The mask of one target: COCO RLE of the full image raster (pixel exact, compact)."""

    target = models.OneToOneField(Target, on_delete=models.CASCADE, related_name="mask")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="masks")
    rle = models.TextField()  # COCO compressed RLE counts (column-major), size = image (height, width)
    area = models.PositiveIntegerField()
    bbox = models.JSONField(default=list)  # [x, y, w, h] in pixels, as COCO
    source = models.CharField(max_length=16, choices=MaskSource.choices)
    state = models.CharField(max_length=16, choices=MaskState.choices, default=MaskState.PREDICTED)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provenance = models.JSONField(default=dict, blank=True)  # clicks, generator, parameters, model version
    warnings = models.JSONField(default=list, blank=True)  # e.g. ["fallback", "adhesion", "too_large"]
    edited_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    confirmed_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["image", "state"], name="mask_image_state")]

    def __str__(self) -> str:
        return f"mask of target {self.target_id} ({self.state}, {self.source})"


class MaskRevision(models.Model):
    """A previous version of a mask, kept whenever a mask is overwritten (nothing confirmed is lost)."""

    mask = models.ForeignKey(Mask, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    rle = models.TextField()
    area = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=MaskSource.choices)
    state = models.CharField(max_length=16, choices=MaskState.choices)
    provenance = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"mask {self.mask_id} v{self.version}"


class Job(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # one-image jobs
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)  # the job's arguments (ids only)
    result = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)  # per-item errors: [{"item": ..., "message": ...}]
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)  # last progress: the orphan sweep finds jobs that made none

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "status"], name="job_project_status"),
            models.Index(fields=["status", "updated_at"], name="job_status_updated"),
            models.Index(fields=["image", "kind", "id"], name="job_image_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status} {self.progress}%)"


class GoldTruth(models.Model):
    """A gold frame's reference labels, imported as gold (services.datasets.imports): the frame itself is normal,
    unlabelled work that annotators claim like any other; its submissions are scored against these at once
    (services.qa). Never a label: exports, training and the loop read Targets and Masks only."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="gold")
    points = models.JSONField(default=list)  # [[x, y], ...]
    masks = models.JSONField(default=list)  # COCO RLE counts per point (null: no mask)
    job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"gold of image {self.image_id}"


class Submission(models.Model):
    """What an annotator submitted for a frame (its points and masks as they were then), scored against what the
    reviewer confirmed: the annotator QA record (per-annotator Pd, Fa, IoU and edit time on the dashboard). Counts,
    not ratios (ml.metrics.frame_counts on the frame's union masks), so any set of submissions pools exactly."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="submissions")
    annotator = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)  # the annotator's claim of the frame, if any
    submitted_at = models.DateTimeField()
    seconds = models.FloatField(null=True, blank=True)  # started -> submitted
    points = models.JSONField(default=list)  # [[x, y], ...] as submitted
    masks = models.JSONField(default=list)  # COCO RLE counts per point (null: no mask)
    # What it was scored against: "review" (the masks a reviewer confirmed) or "gold" (the frame's gold labels).
    reference = models.CharField(max_length=8, default="review")
    reviewer = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    scored_at = models.DateTimeField(null=True, blank=True)  # at confirmation, or at submit for a gold frame
    inter = models.PositiveBigIntegerField(null=True, blank=True)
    union = models.PositiveBigIntegerField(null=True, blank=True)
    n_targets = models.PositiveIntegerField(null=True, blank=True)
    n_matched = models.PositiveIntegerField(null=True, blank=True)
    n_false = models.PositiveIntegerField(null=True, blank=True)
    false_pixels = models.PositiveBigIntegerField(null=True, blank=True)
    n_pixels = models.PositiveBigIntegerField(null=True, blank=True)
    # Double annotation (services.double): 1 or 2 for a frame's two blind passes (null for a normal submission),
    # the other pass, and this pass scored against it (the same counts: inter, union, n_targets, ...).
    blind_pass = models.PositiveSmallIntegerField(null=True, blank=True)
    peer = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    agreement = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "scored_at"], name="submission_project_scored")]

    def __str__(self) -> str:
        return f"submission of image {self.image_id} by {self.annotator_id}"


class AuditLog(models.Model):
    """Who changed what: written by services next to every state change."""

    project = models.ForeignKey(Project, null=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(USER, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type}:{self.object_id}"


class FrameScore(models.Model):
    """One confirmed frame scored against its confirmed masks: the masks the team was shown (the prequential
    record of the generator that served), or a generator's replay on the confirmed points (its shadow record).
    Counts, not ratios, so that any set of frames pools exactly into IoU / Pd / Fat."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="scores")
    kind = models.CharField(max_length=8, choices=ScoreKind.choices)
    # "default" (the project's own settings, no version) or "v<pk>": the generator, stable across promotions.
    generator_key = models.CharField(max_length=32)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    generator = models.CharField(max_length=120)  # readable: "cold start α 0.35", "v3 EDGSP", ...
    inter = models.PositiveBigIntegerField()
    union = models.PositiveBigIntegerField()
    n_targets = models.PositiveIntegerField()
    n_matched = models.PositiveIntegerField()
    n_false = models.PositiveIntegerField()
    false_pixels = models.PositiveBigIntegerField()
    n_pixels = models.PositiveBigIntegerField()
    n_merged = models.PositiveIntegerField(default=0)  # instances that swallowed another target's point
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Each frame is scored once per generator and kind, however many workers race to do it.
            models.UniqueConstraint(fields=["image", "kind", "generator_key"], name="framescore_unique")
        ]
        indexes = [models.Index(fields=["project", "kind", "generator_key"], name="framescore_generator")]

    def __str__(self) -> str:
        return f"{self.kind} {self.generator_key} on image {self.image_id}: {self.inter}/{self.union}"
