"""Cross-project object ids: project B's objects through A's URLs, B's URLs without membership and B's ids in A's
request bodies and filters are refused (404 / 400) and change nothing of B; generated from the URL conf and schema."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from labeling.choices import Role
from labeling.models import Image, Job, Target
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
)
from tests.labeling.apis.test_permission_matrix import ROLES, RULES, World, make_world

# Every kind of object id a URL may carry (user_id: a person of B, who shares no project with A's owner); a URL
# with another kind fails test_every_url_id_is_known.
OBJECT_KWARGS = {
    "project_id",
    "membership_id",
    "image_id",
    "target_id",
    "job_id",
    "version_id",
    "user_id",
    "suggestion_id",
}

# How each model of the app reaches its project: B's rows are compared through these before and after.
PROJECT_PATHS = {
    "Project": "pk",
    "Membership": "project",
    "Image": "project",
    "Target": "image__project",
    "Suggestion": "image__project",
    "Mask": "image__project",
    "MaskRevision": "mask__image__project",
    "Job": "project",
    "ModelVersion": "project",
    "AuditLog": "project",
    "FrameScore": "project",
    "GoldTruth": "image__project",
    "Submission": "project",
}


def _id_endpoints() -> list[tuple[str, str, tuple[str, ...]]]:
    """(url name, method, url kwargs) of every labeling endpoint whose URL carries an object id."""
    found: list[tuple[str, str, tuple[str, ...]]] = []

    def walk(patterns: list, inside: bool) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, inside or getattr(pattern.urlconf_module, "__name__", "") == "labeling.urls")
            elif isinstance(pattern, URLPattern) and inside and pattern.pattern.converters:
                view = pattern.callback.view_class
                for method in view.http_method_names:
                    if method not in ("options", "head", "trace") and hasattr(view, method):
                        found.append((pattern.name, method, tuple(pattern.pattern.converters)))

    walk(get_resolver().url_patterns, False)
    return sorted(found)


ENDPOINTS = _id_endpoints()
RULE_BY_ENDPOINT = {(rule.name, rule.method): rule for rule in RULES}


@dataclass
class TwoProjects:
    a: Any  # project A
    b: World  # project B, with one object of every kind
    alice: Any  # owner of A only
    dual: Any  # owner of A and of B: a nested id of B through A's URL must still be refused


@pytest.fixture
def two(db) -> TwoProjects:
    a, b = ProjectFactory(name="A"), ProjectFactory(name="B")
    alice, dual = UserFactory(username="alice"), UserFactory(username="dual")
    MembershipFactory(project=a, user=alice, role=Role.OWNER)
    MembershipFactory(project=a, user=dual, role=Role.OWNER)
    world_b = make_world(b)
    MembershipFactory(project=b, user=dual, role=Role.OWNER)
    return TwoProjects(a=a, b=world_b, alice=alice, dual=dual)


def snapshot(project) -> dict[str, list[dict]]:
    """Every row of the project, per model (the test fails for a model without a known path to its project)."""
    rows = {}
    for model in apps.get_app_config("labeling").get_models():
        path = PROJECT_PATHS[model.__name__]
        rows[model.__name__] = list(model.objects.filter(**{path: project.pk}).order_by("pk").values())
    return rows


def media_files() -> dict[str, int]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def test_every_url_id_is_known():
    kinds = {name for _, _, kwargs in ENDPOINTS for name in kwargs}
    assert kinds - OBJECT_KWARGS == set(), "a URL carries an object id this test does not build"
    assert len(ENDPOINTS) > 30
    assert {name for name, _, _ in ENDPOINTS} >= {"member-detail", "image-file", "target-mask", "job-cancel"}


def test_every_model_has_a_project_path():
    assert {model.__name__ for model in apps.get_app_config("labeling").get_models()} == set(PROJECT_PATHS)


def _call(client, rule, kwargs: dict, data: Any):
    return getattr(client, rule.method)(reverse(rule.name, kwargs=kwargs), data=data, format=rule.format)


@pytest.mark.parametrize(("name", "method", "kwargs"), ENDPOINTS, ids=[f"{m.upper()} {n}" for n, m, _ in ENDPOINTS])
def test_other_projects_ids_are_refused(two, client_for, name, method, kwargs):
    rule = RULE_BY_ENDPOINT[(name, method)]
    b_owner = two.b.users["owner"]
    ids_b = rule.kwargs(two.b)  # the ids a request on B's own objects uses (may create the object, e.g. an export)
    rule.data(two.b, b_owner)  # any state the body needs (e.g. a submitted image) is set before the snapshot
    attempts = [(two.alice, ids_b, "B's URL, not a member of B")]
    if "project_id" in ids_b and len(ids_b) > 1:
        via_a = {**ids_b, "project_id": two.a.pk}
        attempts += [(two.alice, via_a, "A's URL, B's nested id"), (two.dual, via_a, "A's URL, member of both")]
    rows, files = snapshot(two.b.project), media_files()

    for user, ids, how in attempts:
        response = _call(client_for(user), rule, ids, rule.data(two.b, b_owner))
        assert response.status_code == 404, f"{method.upper()} {name} ({how}): {response.status_code}"
        assert set(response.json()) == {"message", "extra"}
    assert snapshot(two.b.project) == rows, "project B's rows changed"
    assert media_files() == files, "files changed"

    # Control: B's owner, same ids and body, gets the matrix's answer, so the 404s above came from the scoping.
    response = _call(client_for(b_owner), rule, ids_b, rule.data(two.b, b_owner))
    assert response.status_code == rule.expected[ROLES.index("owner")]


# --- ids inside bodies and query parameters --------------------------------------------------------
# Every request field or query parameter that names objects by id (found in the OpenAPI schema), and its test.
BODY_ID_FIELDS = {
    ("put", "/api/v1/images/{image_id}/targets/", "points[].id"): "test_target_ids_of_another_image_are_refused",
    ("post", "/api/v1/projects/{project_id}/prelabel/", "image_ids"): "test_prelabel_ids_of_another_project_refused",
    ("post", "/api/v1/projects/{project_id}/suggestions/detect/", "image_ids"): "test_detect_ids_elsewhere_refused",
    ("post", "/api/v1/projects/{project_id}/rank/", "image_ids"): "test_rank_ids_elsewhere_refused",
    ("get", "/api/v1/projects/{project_id}/images/", "?assigned_to"): "test_assigned_to_filter_stays_in_the_project",
    ("get", "/api/v1/projects/{project_id}/gallery/", "?annotator_id"): "test_gallery_annotator_filter_stays_in",
}
_ID_NAME = re.compile(r"(^|_)ids?$|_to$")


def _schema_id_fields() -> set[tuple[str, str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    found: set[tuple[str, str, str]] = set()

    def fields(node: dict, prefix: str, seen: frozenset) -> set[str]:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return set() if name in seen else fields(components[name], prefix, seen | {name})
        out: set[str] = set()
        for sub in node.get("allOf", []) + node.get("oneOf", []) + node.get("anyOf", []):
            out |= fields(sub, prefix, seen)
        if "items" in node:
            out |= fields(node["items"], prefix + "[]", seen)
        for key, value in node.get("properties", {}).items():
            name = f"{prefix}.{key}" if prefix else key
            out |= {name} | fields(value, name, seen)
        return out

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {f"?{p['name']}" for p in operation.get("parameters", []) if p["in"] == "query"}
            for body in operation.get("requestBody", {}).get("content", {}).values():
                names |= fields(body["schema"], "", frozenset())
            for name in names:
                if _ID_NAME.search(re.split(r"[.\]?]", name)[-1]):
                    found.add((method, path, name))
    return found


def test_every_id_field_has_a_cross_project_test():
    found = _schema_id_fields()
    assert found - set(BODY_ID_FIELDS) == set(), "a request field takes ids but has no cross-project test here"
    assert set(BODY_ID_FIELDS) - found == set(), "a listed field no longer exists"
    assert all(test in globals() for test in BODY_ID_FIELDS.values())


def test_target_ids_of_another_image_are_refused(two, client_for):
    image_a = ImageFactory(project=two.a)
    rows, rows_a = snapshot(two.b.project), snapshot(two.a)
    response = client_for(two.dual).put(
        reverse("target-list", kwargs={"image_id": image_a.pk}),
        {"version": image_a.version, "points": [{"id": two.b.target.pk, "x": 1, "y": 1}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert f"target {two.b.target.pk} is not on this image" in response.json()["message"]
    assert snapshot(two.b.project) == rows
    assert snapshot(two.a) == rows_a
    assert Target.objects.get(pk=two.b.target.pk).image_id == two.b.image.pk


def test_prelabel_ids_of_another_project_refused(two, client_for):
    ImageFactory(project=two.a)
    jobs = Job.objects.count()
    rows = snapshot(two.b.project)
    response = client_for(two.dual).post(
        reverse("project-prelabel", kwargs={"project_id": two.a.pk}), {"image_ids": [two.b.image.pk]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["missing"] == [two.b.image.pk]
    assert Job.objects.count() == jobs
    assert snapshot(two.b.project) == rows


def test_detect_ids_elsewhere_refused(two, client_for):
    ImageFactory(project=two.a)
    jobs = Job.objects.count()
    rows = snapshot(two.b.project)
    response = client_for(two.dual).post(
        reverse("project-suggestion-detect", kwargs={"project_id": two.a.pk}),
        {"image_ids": [two.b.image.pk]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["missing"] == [two.b.image.pk]
    assert Job.objects.count() == jobs
    assert snapshot(two.b.project) == rows


def test_rank_ids_elsewhere_refused(two, client_for):
    ImageFactory(project=two.a)
    jobs = Job.objects.count()
    rows = snapshot(two.b.project)
    response = client_for(two.dual).post(
        reverse("project-rank", kwargs={"project_id": two.a.pk}), {"image_ids": [two.b.image.pk]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["missing"] == [two.b.image.pk]
    assert Job.objects.count() == jobs
    assert snapshot(two.b.project) == rows


def test_assigned_to_filter_stays_in_the_project(two, client_for):
    annotator_b = two.b.users["annotator"]
    Image.objects.filter(pk=two.b.image.pk).update(assigned_to=annotator_b)
    mine = ImageFactory(project=two.a)
    url = reverse("image-list", kwargs={"project_id": two.a.pk})
    for user in (two.alice, two.dual):
        listed = client_for(user).get(url, {"assigned_to": annotator_b.pk}).json()["results"]
        assert listed == [], "another project's image came through the filter"
        everything = client_for(user).get(url).json()["results"]
        assert [row["id"] for row in everything] == [mine.pk]
    # Control: in B the same filter finds the image.
    listed = client_for(two.b.users["viewer"]).get(
        reverse("image-list", kwargs={"project_id": two.b.project.pk}), {"assigned_to": annotator_b.pk}
    )
    assert [row["id"] for row in listed.json()["results"]] == [two.b.image.pk]


def test_gallery_annotator_filter_stays_in(two, client_for):
    """B's annotator id in A's gallery filter finds nothing of B; B's own gallery lists B's target for it."""
    annotator_b = two.b.users["annotator"]
    Image.objects.filter(pk=two.b.image.pk).update(assigned_to=annotator_b)
    url = reverse("gallery-list", kwargs={"project_id": two.a.pk})
    for user in (two.alice, two.dual):
        body = client_for(user).get(url, {"annotator_id": annotator_b.pk}).json()
        assert (body["results"], body["count"]) == ([], 0), "another project's target came through the filter"
    listed = client_for(two.b.users["reviewer"]).get(
        reverse("gallery-list", kwargs={"project_id": two.b.project.pk}), {"annotator_id": annotator_b.pk}
    )
    assert [row["id"] for row in listed.json()["results"]] == [two.b.target.pk]
