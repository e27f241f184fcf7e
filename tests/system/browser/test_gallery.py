"""The review gallery in Chromium: reached from the dashboard, tiles warnings first, C confirms and R rejects the
focused tile (the arrows move the focus), a mask missing its point needs a second C, and a click opens the labeler on
the target."""

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import MaskState, Role
from labeling.models import Mask
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.system.browser.conftest import blobs_frame, login, make_user, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _square(image, x: int, y: int, half: int) -> np.ndarray:
    raster = np.zeros((image.height, image.width), bool)
    raster[y - half : y + half + 1, x - half : x + half + 1] = True
    return raster


@pytest.fixture
def harbour(db):
    """Reviewer rita (the only reviewer: the separate-reviewer rule is off) and annotator anna; two 16-bit frames,
    each with targets at (20, 20) and (60, 40): a 5x5 mask flagged too_large, a 3x3 one whose point is outside it,
    plain 3x3 and 1x1 ones."""
    rita, anna = make_user("rita"), make_user("anna")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=rita, role=Role.REVIEWER)
    MembershipFactory(project=project, user=anna, role=Role.ANNOTATOR)
    one = ImageFactory(project=project, pixels=blobs_frame(seed=3), original_name="harbour_001.png")
    two = ImageFactory(project=project, pixels=blobs_frame(seed=4), original_name="harbour_002.png")
    made = {}
    for name, image, x, y, half, mask_x, warnings in [
        ("large", one, 20, 20, 2, 20, ["too_large"]),
        ("outside", two, 60, 40, 1, 63, ["point_outside"]),
        ("plain", one, 60, 40, 1, 60, []),
        ("tiny", two, 20, 20, 0, 20, []),
    ]:
        target = TargetFactory(image=image, x=x, y=y, created_by=anna)
        MaskFactory(target=target, raster=_square(image, mask_x, y, half), warnings=warnings)
        made[name] = target
    return {"project": project, **made}


def _state(target) -> str:
    return Mask.objects.get(target=target).state


def test_review_gallery_keys_and_open(harbour, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "rita")
    page.goto(f"{live_server.url}/#/p/{harbour['project'].pk}")
    page.click("a.gallery-link")
    page.wait_for_selector(".tiles[data-ready='1']")
    order = [harbour[name].pk for name in ("outside", "large", "plain", "tiny")]  # warnings first, then size
    assert page.eval_on_selector_all(".tile", "els => els.map(e => Number(e.dataset.target))") == order
    expect(page.locator(".count")).to_have_text("4 targets")
    page.wait_for_function("() => [...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth)")
    screenshot(page, "gallery")

    # The first tile (point outside its mask) is focused: C once warns, C again confirms it.
    first = page.locator(f".tile[data-target='{harbour['outside'].pk}']")
    expect(first).to_have_class("tile state-predicted focused")
    page.keyboard.press("c")
    expect(first.locator(".tile-error")).to_contain_text("press C once more")
    assert _state(harbour["outside"]) == MaskState.PREDICTED
    page.keyboard.press("c")
    expect(first).to_have_attribute("data-state", "confirmed")
    assert _state(harbour["outside"]) == MaskState.CONFIRMED

    # Confirming moved the focus on to the next tile; the arrows move it too: reject the third.
    second = page.locator(f".tile[data-target='{harbour['large'].pk}']")
    expect(second).to_have_class("tile state-predicted focused")
    page.keyboard.press("ArrowRight")
    third = page.locator(f".tile[data-target='{harbour['plain'].pk}']")
    expect(third).to_have_class("tile state-predicted focused")
    page.keyboard.press("r")
    expect(third).to_have_attribute("data-state", "rejected")
    assert _state(harbour["plain"]) == MaskState.REJECTED
    assert _state(harbour["large"]) == MaskState.PREDICTED  # skipped, untouched

    # The unconfirmed filter leaves the two decided tiles out.
    page.select_option("select[name=state]", "predicted,edited,none")
    expect(page.locator(".count")).to_have_text("2 targets")
    assert page.eval_on_selector_all(".tile", "els => els.map(e => Number(e.dataset.target))") == [
        harbour["large"].pk,
        harbour["tiny"].pk,
    ]

    # One click on a tile's picture opens the labeler with that target selected and centred.
    tiny = harbour["tiny"]
    page.click(f".tile[data-target='{tiny.pk}'] a.open img")
    page.wait_for_selector("canvas.stage[data-ready='1']")
    assert page.evaluate("location.hash") == f"#/i/{tiny.image_id}?target={tiny.pk}"
    assert page.evaluate("window.__irlabel.session.selected.id") == tiny.pk
    assert page.js_errors == []
    page.wait_for_load_state("networkidle")  # the labeler's look-ahead requests end before the database is flushed


def test_a_viewer_browses_without_review_keys(harbour, live_server, new_page):
    MembershipFactory(project=harbour["project"], user=make_user("vera"), role=Role.VIEWER)
    page = new_page()
    login(page, live_server.url, "vera")
    page.goto(f"{live_server.url}/#/p/{harbour['project'].pk}")
    expect(page.locator("a.gallery-link")).to_have_count(0)  # the dashboard offers it to reviewers and above
    page.goto(f"{live_server.url}/#/p/{harbour['project'].pk}/gallery")
    page.wait_for_selector(".tiles[data-ready='1']")
    expect(page.locator(".tile button[data-act]")).to_have_count(0)
    page.keyboard.press("c")
    assert _state(harbour["outside"]) == MaskState.PREDICTED
    assert page.js_errors == []
