"""The dashboard numbers: image counts by status and per annotator, mask states, target count."""

from django.urls import reverse

from labeling.choices import ImageStatus, MaskState
from tests.factories import ImageFactory, MaskFactory, ProjectFactory, TargetFactory


def test_stats_count_by_status_annotator_and_mask_state(project, annotator, viewer, client_for):
    ImageFactory(project=project, status=ImageStatus.SUBMITTED, assigned_to=annotator)
    ImageFactory(project=project, status=ImageStatus.IN_PROGRESS, assigned_to=annotator)
    free = ImageFactory(project=project)
    MaskFactory(target=TargetFactory(image=free), image=free, state=MaskState.CONFIRMED)
    TargetFactory(image=free)
    other = ImageFactory(project=ProjectFactory())  # another project's rows never count
    MaskFactory(target=TargetFactory(image=other), image=other)

    response = client_for(viewer).get(reverse("project-stats", kwargs={"project_id": project.pk}))

    assert response.status_code == 200
    data = response.json()
    assert data["by_status"] == {"submitted": 1, "in_progress": 1, "new": 1}
    assert data["images"] == 3 and data["targets"] == 2
    assert data["masks_by_state"] == {"confirmed": 1}
    people = {row["username"]: row for row in data["by_annotator"]}
    assert people[annotator.username]["counts"] == {"submitted": 1, "in_progress": 1}
    assert people[annotator.username]["total"] == 2
    assert people[None]["counts"] == {"new": 1}


def test_stats_hidden_from_non_members(project, outsider, client_for):
    response = client_for(outsider).get(reverse("project-stats", kwargs={"project_id": project.pk}))
    assert response.status_code == 404
