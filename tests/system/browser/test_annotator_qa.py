"""Annotator QA in Chromium (issue 20): after two annotators' frames were submitted and confirmed (one fixed by
the reviewer) and one gold frame was submitted, the reviewer's dashboard shows each annotator's IoU, Pd, time and
gold figures, and the per-day chart; an annotator's dashboard has no such card."""

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import Role
from labeling.models import GoldTruth
from labeling.services.images import image_claim, image_confirm, image_submit
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, gradient
from tests.system.browser.conftest import login, logout, make_user, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _square(x, y):
    raster = np.zeros((16, 24), bool)
    raster[y - 1 : y + 2, x - 1 : x + 2] = True
    return raster


@pytest.fixture
def reviewed(db):
    rita, anna, bob = make_user("rita"), make_user("anna"), make_user("bob")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=rita, role=Role.REVIEWER)
    MembershipFactory(project=project, user=anna, role=Role.ANNOTATOR)
    MembershipFactory(project=project, user=bob, role=Role.ANNOTATOR)
    for who, points in ((anna, [(4, 4), (15, 9)]), (bob, [(4, 4), (20, 12)])):
        image = ImageFactory(project=project, pixels=gradient(seed=len(points) + who.pk))
        image_claim(project=project, actor=who)
        for x, y in points:
            MaskFactory(target=TargetFactory(image=image, x=x, y=y, created_by=who), raster=_square(x, y))
        image = image_submit(image=image, actor=who)
        if who is bob:  # the reviewer removes bob's false target before confirming
            image.targets.filter(x=20).delete()
        image_confirm(image=image, actor=rita)
    gold = ImageFactory(project=project, pixels=gradient(seed=99))  # a gold frame: anna finds one of its two targets
    GoldTruth.objects.create(
        image=gold, points=[[4, 4], [15, 9]], masks=[mask_rle(_square(4, 4)), mask_rle(_square(15, 9))]
    )
    image_claim(project=project, actor=anna)
    MaskFactory(target=TargetFactory(image=gold, x=4, y=4, created_by=anna), raster=_square(4, 4))
    image_submit(image=gold, actor=anna)
    return project


def mask_rle(raster):
    from labeling import storage

    return storage.mask_encode(raster)[0]


def test_the_reviewer_sees_each_annotators_figures_and_the_annotator_does_not(reviewed, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "rita")
    page.goto(f"{live_server.url}/#/p/{reviewed.pk}")
    anna, bob = page.locator(".qa-card tr[data-user=anna]"), page.locator(".qa-card tr[data-user=bob]")
    expect(anna.locator("[data-col=iou]")).to_have_text("100.0")
    expect(bob.locator("[data-col=pd]")).to_have_text("100.0")
    expect(anna.locator("[data-col=gold]")).to_have_text("50.0 / 50.0 (1)")
    expect(bob.locator("[data-col=gold]")).to_have_text("–")
    assert float(bob.locator("[data-col=iou]").inner_text()) < 100
    expect(page.locator(".qa-card svg.qa-curve circle")).to_have_count(2)
    page.locator(".qa-card").scroll_into_view_if_needed()
    screenshot(page, "dashboard-qa")
    assert not page.js_errors
    logout(page)

    page = new_page()
    login(page, live_server.url, "anna")
    page.goto(f"{live_server.url}/#/p/{reviewed.pk}")
    expect(page.locator(".stats .status-bars .bar-row")).to_have_count(5)
    expect(page.locator(".qa-card")).to_have_count(0)
    assert not page.js_errors
