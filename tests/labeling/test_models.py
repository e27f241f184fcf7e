"""Model constraints and the content-addressed upload path."""

import pytest
from django.db import IntegrityError, transaction

from labeling.choices import Role
from labeling.models import Membership, image_upload_path
from tests.factories import ImageFactory, MaskFactory, ProjectFactory, TargetFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_upload_path_uses_only_project_and_hash(project):
    image = ImageFactory.build(project=project, content_hash="ab" + "0" * 62, format="TIFF")
    path = image_upload_path(image, "../../evil name.png")
    assert path == f"projects/{project.pk}/images/ab/ab{'0' * 62}.tif"


def test_same_content_twice_in_a_project_is_refused(project):
    image = ImageFactory(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        ImageFactory(project=project, content_hash=image.content_hash)
    assert ImageFactory(project=ProjectFactory(), content_hash=image.content_hash).pk  # another project is fine


def test_one_membership_per_user_and_project(project):
    user = UserFactory()
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(project=project, user=user, role=Role.OWNER)


def test_deleting_an_image_deletes_its_targets_and_masks(project):
    mask = MaskFactory(target=TargetFactory(image=ImageFactory(project=project)))
    mask.image.delete()
    assert not type(mask).objects.exists()
    assert not type(mask.target).objects.exists()
