"""Dense copies of selection frames: the frame's own targets kept, one prompted cluster added, one rng per frame."""

import numpy as np
import pytest

from ml.data import Sample
from ml.points import centroid_points
from ml.synthetic import dense_copies, make_synthetic_samples


@pytest.fixture(scope="module")
def frames() -> list[Sample]:
    return make_synthetic_samples(3, seed=8, shape=(160, 160))


def test_a_dense_copy_keeps_the_frame_and_adds_a_prompted_cluster(frames):
    for s, d in zip(frames, dense_copies(frames, seed=7), strict=True):
        own = len(s.points) if s.points is not None else 0
        assert d.id == s.id and len(d.points) == len(d.instances) >= max(own, 1) + 5
        assert (d.mask >= s.mask).all() and d.mask.sum() > s.mask.sum()
        assert np.array_equal(d.image[s.mask], s.image[s.mask])  # the cluster keeps away from the frame's targets
        stack = np.stack(d.instances)
        assert (stack.sum(axis=0) <= 1).all() and np.array_equal(stack.any(axis=0), d.mask)
        for (x, y), inst in zip(d.points.astype(int), d.instances, strict=True):
            assert inst[y, x]  # every target's point sits on its own instance


def test_a_copy_depends_only_on_its_frame_and_the_seed(frames):
    alone = dense_copies(frames[1:2], seed=7)[0]
    together = dense_copies(frames, seed=7)[1]
    other_seed = dense_copies(frames[1:2], seed=8)[0]
    assert np.array_equal(alone.image, together.image) and np.array_equal(alone.points, together.points)
    assert not np.array_equal(alone.image, other_seed.image)


def test_a_frame_without_a_mask_is_refused(frames):
    with pytest.raises(ValueError, match="no mask"):
        dense_copies([Sample("unlabelled", frames[0].image)], seed=7)


def test_clicks_without_their_own_instances_give_no_per_target_counts(frames):
    s = frames[0]
    own = centroid_points(s.mask)
    clicked = Sample(s.id, s.image, s.mask, np.concatenate([own, own[:1] + 1.0]))  # two clicks on one component
    d = dense_copies([clicked], seed=7)[0]
    assert d.instances is None and len(d.points) > len(clicked.points)
    assert np.array_equal(d.points[: len(clicked.points)], clicked.points)
