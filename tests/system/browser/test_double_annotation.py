"""Double annotation in Chromium (issue 20, annotator QA): the first annotator's submit keeps their pass aside and
says so, and they get no second go at the frame; after a second annotator's blind pass, the reviewer reads both
passes and their agreement in the labeler and draws the first pass over the second with D; the dashboard shows
each annotator's agreement and the project's inter-annotator IoU, and a manager sets the share labelled twice."""

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import Role
from labeling.models import Project, Submission
from labeling.services.images import image_claim, image_submit
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.system.browser.conftest import canvas_pixel, login, logout, make_user, screenshot, to_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _square(x, y):
    raster = np.zeros((16, 24), bool)
    raster[y - 1 : y + 2, x - 1 : x + 2] = True
    return raster


def _label(image, who, points):
    for x, y in points:
        MaskFactory(target=TargetFactory(image=image, x=x, y=y, created_by=who), raster=_square(x, y))


@pytest.fixture
def team(db):
    users = {name: make_user(name) for name in ("rita", "anna", "bob", "mia")}
    project = ProjectFactory(name="Twice", settings={"qa": {"double_share": 1.0}})
    roles = {"rita": Role.REVIEWER, "anna": Role.ANNOTATOR, "bob": Role.ANNOTATOR, "mia": Role.MANAGER}
    for name, role in roles.items():
        MembershipFactory(project=project, user=users[name], role=role)
    yy, xx = np.mgrid[0:16, 0:24]
    frame = 30 + np.random.default_rng(0).normal(0, 3, (16, 24))
    for x, y in ((4, 4), (15, 9), (20, 12)):  # three small targets on a dark, noisy sky
        frame += 160 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 1.5)
    image = ImageFactory(project=project, pixels=np.clip(frame, 0, 255).astype(np.uint8))
    return project, image, users


def test_two_blind_passes_from_submit_to_the_reviewers_overlay(team, live_server, new_page):
    project, image, users = team
    image_claim(project=project, actor=users["anna"])
    _label(image, users["anna"], [(4, 4), (15, 9)])  # as her clicks made them

    page = new_page()
    login(page, live_server.url, "anna")
    page.goto(f"{live_server.url}/#/i/{image.pk}")
    canvas = page.locator("canvas.stage[data-ready='1']")
    expect(canvas).to_have_attribute("data-targets", "2")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".message")).to_contain_text("first of two blind passes")
    expect(canvas).to_have_attribute("data-targets", "0")  # her pass left the frame; the submission keeps it
    assert Submission.objects.get(image=image).blind_pass == 1
    page.keyboard.press("n")
    expect(page.locator(".message")).to_contain_text("No image is left to label")
    assert not page.js_errors
    logout(page)

    image_claim(project=project, actor=users["bob"])  # bob's blind pass: one the same, one missed, one extra
    _label(image, users["bob"], [(4, 4), (20, 12)])
    image_submit(image=image, actor=users["bob"])

    page = new_page()
    login(page, live_server.url, "rita")
    page.goto(f"{live_server.url}/#/i/{image.pk}")
    canvas = page.locator("canvas.stage[data-ready='1']")
    expect(canvas).to_have_attribute("data-targets", "2")
    panel = page.locator(".double-annotation")
    expect(panel.locator("tbody tr")).to_have_count(2)
    expect(panel).to_contain_text("anna")
    expect(panel.locator(".agreement")).to_contain_text("IoU 33.3, Pd 50.0, 1 extra targets")
    edge = to_screen(page, 13.5, 9)  # the left side of anna's square that bob missed, between two pixels
    before = canvas_pixel(page, edge["x"], edge["y"])
    page.keyboard.press("d")
    expect(canvas).to_have_attribute("data-first-pass", "shown")
    assert canvas_pixel(page, edge["x"], edge["y"]) != before
    screenshot(page, "labeler-double")
    page.keyboard.press("d")
    expect(canvas).to_have_attribute("data-first-pass", "hidden")
    assert canvas_pixel(page, edge["x"], edge["y"]) == before

    page.goto(f"{live_server.url}/#/p/{project.pk}")
    expect(page.locator(".qa-card .double-summary")).to_have_text("Labelled twice: 1 frame, inter-annotator IoU 33.3.")
    expect(page.locator(".qa-card tr[data-user=anna] [data-col=agreement]")).to_have_text("33.3 / 50.0 (1)")
    expect(page.locator(".qa-card input[name=double-share]")).to_have_count(0)  # a reviewer reads, a manager sets
    assert not page.js_errors
    logout(page)

    page = new_page()
    login(page, live_server.url, "mia")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    share = page.locator(".qa-card input[name=double-share]")
    expect(share).to_have_value("100")
    share.fill("25")
    share.dispatch_event("change")
    expect(page.locator(".top-error")).to_have_text("")
    page.wait_for_function("() => true")
    for _ in range(50):
        if Project.objects.get(pk=project.pk).settings["qa"]["double_share"] == 0.25:
            break
        page.wait_for_timeout(100)
    assert Project.objects.get(pk=project.pk).settings["qa"]["double_share"] == 0.25
    assert not page.js_errors
