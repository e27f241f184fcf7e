"""TextChoices shared by models, services and the API."""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    MANAGER = "manager", "Manager"
    OWNER = "owner", "Owner"


# Each role can do everything the roles before it can.
ROLE_RANK = {Role.VIEWER: 0, Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.MANAGER: 3, Role.OWNER: 4}


def role_at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class ImageStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class MaskSource(models.TextChoices):
    COLDSTART = "coldstart", "Cold start"
    MODEL = "model", "Model version"
    HUMAN = "human", "Human edit"
    IMPORT = "import", "Imported"


class MaskState(models.TextChoices):
    PREDICTED = "predicted", "Predicted"
    EDITED = "edited", "Edited"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"


class JobKind(models.TextChoices):
    GENERATE = "generate", "Generate masks for one image"
    PRELABEL = "prelabel", "Batch pre-labeling"
    TRAIN = "train", "Training"
    IMPORT = "import", "Import"
    EXPORT = "export", "Export"
    CALIBRATE = "calibrate", "Cold-start calibration"
    SCORE = "score", "Score a confirmed frame (learning loop)"
    DETECT = "detect", "Propose candidate targets (detector)"
    RANK = "rank", "Rank frames by uncertainty (active claim order)"


class SuggestionState(models.TextChoices):
    """A proposed target: waiting for a person, accepted (it became a Target) or rejected (not proposed again)."""

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


JOB_FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


class GeneratorKind(models.TextChoices):
    """What a model version is: a learned EDGSP checkpoint, or cold-start settings chosen by calibration."""

    EDGSP = "edgsp", "EDGSP network"
    COLDSTART = "coldstart", "Calibrated cold start"


class ScoreKind(models.TextChoices):
    """A frame's record: what the team was shown, or a generator's replay on the confirmed points."""

    SHOWN = "shown", "Shown to the annotator"
    REPLAY = "replay", "Replayed by a generator"


class ModelStatus(models.TextChoices):
    TRAINING = "training", "Training"
    CANDIDATE = "candidate", "Candidate"
    PROMOTED = "promoted", "Promoted"
    REJECTED = "rejected", "Rejected"
    RETIRED = "retired", "Retired"
