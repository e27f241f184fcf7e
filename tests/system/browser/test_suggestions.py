"""Suggested targets in Chromium (issue 18 item 7): the dashboard says what pre-label does and offers the detector;
in the labeler an annotator accepts one suggestion and deletes another, one key each, without a worker."""

import time

import pytest
from playwright.sync_api import expect

from labeling.choices import Role, SuggestionState
from labeling.models import Suggestion, Target
from labeling.services.suggestions import image_suggest
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory
from tests.system.browser.conftest import blobs_frame, login, logout, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def proposed(db):
    """A frame nobody clicked, with the detector's two suggestions on its blobs at (20, 20) and (60, 40)."""
    olga, anna = make_user("olga"), make_user("anna")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=olga, role=Role.OWNER)
    MembershipFactory(project=project, user=anna, role=Role.ANNOTATOR)
    image = ImageFactory(project=project, pixels=blobs_frame(), original_name="harbour16.png")
    assert image_suggest(image=image) == 2
    return {"project": project, "image": image}


def test_the_dashboard_says_what_pre_label_does_and_offers_proposals(proposed, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{proposed['project'].pk}")
    expect(page.locator(".prelabel-hint")).to_contain_text("only for the points already placed")
    expect(page.locator("[data-act=suggest]")).to_have_text("Propose targets")
    page.click("[data-act=suggest]")  # a job over the frames without points, listed with the others
    expect(page.locator(".job-list")).to_contain_text("detect")
    assert not page.js_errors
    logout(page)


def test_an_annotator_accepts_one_suggestion_and_deletes_another_with_one_key_each(proposed, live_server, new_page):
    image = proposed["image"]
    strong, weak = Suggestion.objects.filter(image=image).order_by("-score")
    page = new_page()
    login(page, live_server.url, "anna")
    page.goto(f"{live_server.url}/#/i/{image.pk}")
    canvas = page.locator("canvas.stage[data-ready='1']")
    expect(canvas).to_have_attribute("data-suggestions", "2")
    expect(page.locator(".suggestions .count")).to_have_text("2")
    expect(page.locator(".suggestions .hint")).to_contain_text("not labels until you accept them")
    expect(canvas).to_have_attribute("data-suggestion-selected", str(strong.pk))  # the strongest is selected

    page.keyboard.press("a")  # accept: it becomes target 1 (and A does not switch tools or add a point)
    expect(canvas).to_have_attribute("data-targets", "1")
    expect(canvas).to_have_attribute("data-suggestions", "1")
    expect(canvas).to_have_attribute("data-suggestion-selected", str(weak.pk))  # the next one, for the next key
    strong.refresh_from_db()
    target = Target.objects.get(image=image)
    assert strong.state == SuggestionState.ACCEPTED and strong.target == target
    assert (target.x, target.y) == (strong.x, strong.y)

    page.keyboard.press("Delete")  # reject the selected suggestion: the accepted target stays
    expect(canvas).to_have_attribute("data-suggestions", "0")
    expect(page.locator(".suggestion-message")).to_have_text("Suggestion deleted.")
    weak.refresh_from_db()
    assert weak.state == SuggestionState.REJECTED
    assert list(Target.objects.filter(image=image)) == [target]
    expect(page.locator(".target-list .target")).to_have_count(1)
    page.evaluate("() => window.__irlabel.session.idle()")  # no request left running when the test's rows go
    assert not page.js_errors


def test_once_the_labeler_selects_a_target_its_keys_are_its_own_again(proposed, live_server, new_page):
    """Tab selects a target: Delete then deletes that target, not the selected suggestion; Escape hands the keys
    back too (A is the point tool again)."""
    image = proposed["image"]
    own = Target.objects.create(image=image, x=5.0, y=50.0)
    page = new_page()
    login(page, live_server.url, "anna")
    page.goto(f"{live_server.url}/#/i/{image.pk}")
    canvas = page.locator("canvas.stage[data-ready='1']")
    expect(canvas).to_have_attribute("data-suggestions", "2")
    page.keyboard.press("Tab")  # the labeler selects target 1
    page.keyboard.press("Delete")
    expect(canvas).to_have_attribute("data-targets", "0")
    expect(canvas).to_have_attribute("data-suggestion-selected", "")
    _until(lambda: not Target.objects.filter(pk=own.pk).exists())  # the delete request has answered
    assert Suggestion.objects.filter(image=image, state=SuggestionState.PENDING).count() == 2

    page.click("[data-sugg=select] >> nth=0")  # select a suggestion again, then let go of it with Escape
    expect(canvas).not_to_have_attribute("data-suggestion-selected", "")
    page.keyboard.press("Escape")
    expect(canvas).to_have_attribute("data-suggestion-selected", "")
    page.keyboard.press("b")
    page.keyboard.press("a")  # the point tool, not an accept
    expect(canvas).to_have_attribute("data-tool", "point")
    assert Suggestion.objects.filter(image=image, state=SuggestionState.PENDING).count() == 2
    assert not page.js_errors
