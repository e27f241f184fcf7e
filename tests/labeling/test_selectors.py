"""Selectors: scoping (non-members get 404), role annotation, image_list filters and query counts."""

import pytest
from django.http import Http404

from labeling import selectors
from labeling.choices import Role
from labeling.permissions import role_of
from tests.factories import ImageFactory, JobFactory, MaskFactory, ProjectFactory, TargetFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_project_list_only_mine_with_role(project, member):
    user = member(Role.REVIEWER)
    ProjectFactory()
    projects = list(selectors.project_list(user=user))
    assert [(p.pk, p.user_role) for p in projects] == [(project.pk, "reviewer")]


@pytest.mark.parametrize(
    ("getter", "make", "arg"),
    [
        (selectors.project_get, lambda p: p, "project_id"),
        (selectors.image_get, lambda p: ImageFactory(project=p), "image_id"),
        (selectors.target_get, lambda p: TargetFactory(image__project=p), "target_id"),
        (selectors.job_get, lambda p: JobFactory(project=p), "job_id"),
    ],
)
def test_getters_hide_other_projects(project, viewer, getter, make, arg):
    obj = make(project)
    assert getter(user=viewer, **{arg: obj.pk}).pk == obj.pk
    with pytest.raises(Http404):
        getter(user=UserFactory(), **{arg: obj.pk})
    with pytest.raises(Http404):
        getter(user=viewer, **{arg: 10**9})


@pytest.mark.parametrize(
    "lister",
    [
        selectors.image_list,
        selectors.membership_list,
        selectors.job_list,
        selectors.model_version_list,
        selectors.audit_list,
    ],
)
def test_listers_refuse_non_members(project, lister):
    with pytest.raises(Http404):
        lister(user=UserFactory(), project=project)


def test_getter_caches_the_role(project, annotator, django_assert_num_queries):
    target = TargetFactory(image__project=project)
    with django_assert_num_queries(1):
        fetched = selectors.target_get(user=annotator, target_id=target.pk)
        assert role_of(annotator, fetched.image.project) == Role.ANNOTATOR
        assert selectors.mask_of(fetched) is None


def test_image_list_filters(project, viewer, annotator):
    a = ImageFactory(project=project)
    b = TargetFactory(image=ImageFactory(project=project, split="test")).image
    c = MaskFactory(
        target=TargetFactory(image=ImageFactory(project=project, assigned_to=annotator)), warnings=["x"]
    ).image
    ImageFactory()  # another project's

    def ids(**filters) -> list[int]:
        return list(selectors.image_list(user=viewer, project=project, filters=filters).values_list("pk", flat=True))

    assert ids() == [a.pk, b.pk, c.pk]
    assert ids(split=["test"]) == [b.pk]
    assert ids(assigned_to=annotator.pk) == [c.pk]
    assert ids(assigned_to=None) == [a.pk, b.pk]
    assert ids(has_targets=True) == [b.pk, c.pk]
    assert ids(has_targets=False) == [a.pk]
    assert ids(has_warnings=True) == [c.pk]
    assert ids(has_warnings=False) == [a.pk, b.pk]
    assert ids(status=["new"]) == [a.pk, b.pk, c.pk]


@pytest.mark.parametrize("count", [5, 50])
def test_image_list_is_one_query(project, viewer, django_assert_num_queries, count):
    for _ in range(count):
        TargetFactory(image=ImageFactory(project=project))
    selectors.project_get(user=viewer, project_id=project.pk)
    project = selectors.project_get(user=viewer, project_id=project.pk)
    with django_assert_num_queries(1):
        rows = [(i.pk, i.target_count, i.has_warnings) for i in selectors.image_list(user=viewer, project=project)]
    assert len(rows) == count and all(n == 1 for _, n, _ in rows)
