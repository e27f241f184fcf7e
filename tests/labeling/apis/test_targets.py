"""Target endpoints: bounds and NaN -> 400, concurrent moves -> 409 with nothing lost, replace-all."""

import pytest
from django.urls import reverse

from labeling.models import Target
from tests.factories import ImageFactory, TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(project):
    return ImageFactory(project=project)  # 24 x 16


def targets_url(image) -> str:
    return reverse("target-list", kwargs={"image_id": image.pk})


@pytest.mark.parametrize(
    "point",
    [{"x": 24, "y": 1}, {"x": -1, "y": 1}, {"x": 1, "y": 15.5}, {"x": "NaN", "y": 1}, {"x": 1, "y": "Infinity"}],
)
def test_add_outside_or_nan_is_400(image, annotator, client_for, point):
    response = client_for(annotator).post(targets_url(image), point)
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert not Target.objects.exists()


def test_nan_literal_in_json_is_400(image, annotator, client_for):
    response = client_for(annotator).generic(
        "POST", targets_url(image), '{"x": NaN, "y": 1}', content_type="application/json"
    )
    assert response.status_code == 400
    assert not Target.objects.exists()


def test_add_list_and_image_starts(image, annotator, viewer, client_for):
    created = client_for(annotator).post(targets_url(image), {"x": 3.25, "y": 4.75, "tightness": 0.4})
    assert created.status_code == 201
    assert created.json()["x"] == 3.25
    listed = client_for(viewer).get(targets_url(image)).json()
    assert [(t["x"], t["y"], t["tightness"], t["mask_state"]) for t in listed] == [(3.25, 4.75, 0.4, None)]
    image.refresh_from_db()
    assert image.status == "in_progress"


def test_concurrent_moves_second_gets_409_and_loses_nothing(image, member, client_for):
    target = TargetFactory(image=image, x=1, y=1)
    url = reverse("target-detail", kwargs={"target_id": target.pk})
    alice, bob = client_for(member("annotator")), client_for(member("annotator"))
    seen_by_both = alice.get(url).json()["version"]
    assert bob.get(url).json()["version"] == seen_by_both
    first = alice.patch(url, {"version": seen_by_both, "x": 5, "y": 6})
    second = bob.patch(url, {"version": seen_by_both, "x": 9, "y": 9})
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["extra"]["current_version"] == seen_by_both + 1
    target.refresh_from_db()
    assert (target.x, target.y, target.version) == (5, 6, seen_by_both + 1)


def test_move_outside_is_400_and_changes_nothing(image, annotator, client_for):
    target = TargetFactory(image=image, x=1, y=1)
    url = reverse("target-detail", kwargs={"target_id": target.pk})
    response = client_for(annotator).patch(url, {"version": 1, "x": 100})
    assert response.status_code == 400
    assert f"target {target.pk}" in response.json()["message"]
    target.refresh_from_db()
    assert (target.x, target.version) == (1, 1)


def test_delete_with_stale_version_is_409(image, annotator, client_for):
    target = TargetFactory(image=image)
    url = reverse("target-detail", kwargs={"target_id": target.pk})
    client_for(annotator).patch(url, {"version": 1, "x": 2})
    assert client_for(annotator).delete(url, {"version": 1}).status_code == 409
    assert client_for(annotator).delete(url, {"version": 2}).status_code == 204


def test_replace_all_concurrent_409(image, member, client_for):
    keep = TargetFactory(image=image)
    alice, bob = client_for(member("annotator")), client_for(member("annotator"))
    body = {"version": 1, "points": [{"id": keep.pk, "x": 2, "y": 2}, {"x": 7, "y": 7}]}
    first = alice.put(targets_url(image), body, format="json")
    assert first.status_code == 200
    assert [(t["x"], t["y"]) for t in first.json()] == [(2, 2), (7, 7)]
    second = bob.put(targets_url(image), {"version": 1, "points": []}, format="json")
    assert second.status_code == 409
    assert Target.objects.filter(image=image).count() == 2


def test_replace_all_bad_point_names_it(image, annotator, client_for):
    response = client_for(annotator).put(
        targets_url(image), {"version": 1, "points": [{"x": 1, "y": 1}, {"x": 1, "y": -3}]}, format="json"
    )
    assert response.status_code == 400
    assert "point 1" in response.json()["message"]
    assert not Target.objects.exists()


@pytest.mark.parametrize("count", [3, 30])
def test_target_list_query_count_is_constant(image, viewer, client_for, django_assert_max_num_queries, count):
    from tests.factories import MaskFactory

    for i in range(count):
        MaskFactory(target=TargetFactory(image=image, x=i % 20, y=i % 10))
    with django_assert_max_num_queries(2):
        response = client_for(viewer).get(targets_url(image))
    assert len(response.json()) == count
    assert {t["mask_state"] for t in response.json()} == {"predicted"}
