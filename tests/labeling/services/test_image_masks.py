"""Storing a generator's masks in-process (no worker): the review flags each generated mask gets."""

import numpy as np
import pytest

from labeling import ml_adapter
from labeling.choices import JobKind
from labeling.models import Mask
from labeling.services.image_masks import image_masks_store
from labeling.services.serving import generator_spec
from tests.factories import ImageFactory, JobFactory, TargetFactory

pytestmark = pytest.mark.django_db


def test_a_generated_mask_that_misses_its_point_is_flagged_point_outside(project):
    image = ImageFactory(project=project, pixels=np.zeros((32, 40), np.uint8))
    a = TargetFactory(image=image, x=8, y=8)
    b = TargetFactory(image=image, x=30, y=20)
    around_a, beside_b = np.zeros((32, 40), bool), np.zeros((32, 40), bool)
    around_a[7:10, 7:10] = True
    beside_b[19:22, 32:35] = True  # two pixels to the right of b's point: b's own pixel is not in it
    out = ml_adapter.GenerationOutput([around_a, beside_b], [False, False], [False, False], "coldstart", 0.0)
    job = JobFactory(project=project, kind=JobKind.GENERATE, image=image)
    assert image_masks_store(image, [a, b], out, generator_spec(project), job) == 2
    assert Mask.objects.get(target=a).warnings == []
    assert Mask.objects.get(target=b).warnings == ["point_outside"]
