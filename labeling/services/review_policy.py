"""The project's "reviewer != annotator" rule: who annotated an image, and whether that person may confirm it."""

from typing import Any

from labeling.choices import Role
from labeling.exceptions import ApplicationError
from labeling.models import Image, Membership, Project, Target
from labeling.services.projects import project_settings

REVIEWING_ROLES = (Role.REVIEWER, Role.MANAGER, Role.OWNER)


def separate_reviewer(project: Project) -> bool:
    """`settings.review.separate_reviewer` when set; else on as soon as two members can review (with one, the rule
    would leave nobody able to confirm that person's work)."""
    setting = project_settings(project)["review"].get("separate_reviewer")
    if isinstance(setting, bool):
        return setting
    return Membership.objects.filter(project=project, role__in=REVIEWING_ROLES).count() > 1


def image_annotators(image: Image) -> set[int]:
    """User ids that annotated the image: whoever submitted it and its assignee; for an image never submitted, its
    assignee and whoever placed its points; a double-annotated frame's first annotator too."""
    if image.submitted_by_id is not None:
        return {image.submitted_by_id, image.assigned_to_id, image.first_pass_by_id} - {None}
    creators = set(Target.objects.filter(image=image).values_list("created_by_id", flat=True))
    return (creators | {image.assigned_to_id, image.first_pass_by_id}) - {None}


def require_independent_reviewer(image: Image, actor: Any, action: str) -> None:
    """403 when the rule is on and the actor annotated the image."""
    if not separate_reviewer(image.project) or actor.pk not in image_annotators(image):
        return
    raise ApplicationError(
        f"You annotated image {image.pk}, and this project requires another reviewer to {action} it "
        "(settings.review.separate_reviewer). Ask a colleague to review it.",
        extra={"rule": "separate_reviewer", "image_id": image.pk},
        status_code=403,
    )
