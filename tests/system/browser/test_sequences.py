"""A sequence in Chromium (issue 20, sequences): opening the second frame offers the first frame's points, moved
onto their peaks, as suggestions; one key accepts one (it keeps its track id), another deletes one; PageDown opens
the next frame with the same view, and its points are carried from the frame before."""

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import Role, SuggestionState
from labeling.models import Suggestion, Target
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.labeling.services.test_sequences import STARTS, STEP, moving_frame
from tests.system.browser.conftest import login, make_user, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sequence(db):
    anna = make_user("anna")
    project = ProjectFactory(name="Night pass")
    MembershipFactory(project=project, user=anna, role=Role.ANNOTATOR)
    frames = [
        ImageFactory(
            project=project,
            pixels=moving_frame(STARTS + k * STEP, seed=k),
            original_name=f"pass_p{k + 1:04d}.tif",
            sequence="pass",
            frame_index=k + 1,
        )
        for k in range(3)
    ]
    for x, y in STARTS:
        TargetFactory(image=frames[0], x=x, y=y)
    return frames


def test_carried_points_are_accepted_or_deleted_with_one_key_and_pagedown_goes_on(sequence, live_server, new_page):
    first, second, third = sequence
    page = new_page()
    login(page, live_server.url, "anna")
    page.goto(f"{live_server.url}/#/i/{second.pk}")
    canvas = page.locator("canvas.stage[data-ready='1']")
    expect(canvas).to_have_attribute("data-suggestions", "3")  # carried on opening: the frame had no targets
    expect(page.locator(".sequence")).to_contain_text("frame 2 of 3")
    expect(page.locator(".carry-message")).to_have_text("3 points carried from the previous frame.")
    carried = list(Suggestion.objects.filter(image=second, source="carried").order_by("pk"))
    got = np.array([[s.x, s.y] for s in carried])
    assert np.abs(got - (STARTS + STEP)).max() <= 0.6
    screenshot(page, "labeler-sequence")

    page.keyboard.press("a")  # accept the selected one
    expect(canvas).to_have_attribute("data-targets", "1")
    page.keyboard.press("Delete")  # delete the next one
    expect(canvas).to_have_attribute("data-suggestions", "1")
    page.keyboard.press("a")
    expect(canvas).to_have_attribute("data-targets", "2")
    page.evaluate("() => window.__irlabel.session.idle()")
    tracks = sorted(Target.objects.filter(image=second).values_list("track_id", flat=True))
    sources = sorted(Target.objects.filter(image=first).values_list("track_id", flat=True))
    assert len(tracks) == 2 and set(tracks) <= set(sources) and None not in tracks
    assert Suggestion.objects.filter(image=second, state=SuggestionState.REJECTED).count() == 1
    view = page.evaluate("() => ({...window.__irlabel.stage.view})")

    page.keyboard.press("PageDown")
    expect(page).to_have_url(f"{live_server.url}/#/i/{third.pk}")
    canvas = page.locator("canvas.stage[data-ready='1']")
    expect(canvas).to_have_attribute("data-suggestions", "2")  # frame 2's two targets, carried on
    assert page.evaluate("() => ({...window.__irlabel.stage.view})") == view  # the same zoom and centre
    assert sorted(s.params["track_id"] for s in Suggestion.objects.filter(image=third)) == tracks
    page.evaluate("() => window.__irlabel.session.idle()")
    assert not page.js_errors
