"""Labeler ergonomics (issue 18, item 8), in Chromium without a worker: shortcuts after a slider, window/level by
number, by drag and on a fine slider, Submit and Confirm above the fold at 1024x700, a panel that stays current
while editing, and the next image preloaded and opened with the same view."""

import time

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import ImageStatus, Role
from labeling.models import Image, Target
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.system.browser.conftest import blobs_frame, login, make_user, screenshot, to_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def harbour(db):
    """Owner olga; a 16-bit frame with target 1 at (20, 20) and target 2 at (60, 40) (flagged `adhesion`), each with
    a 3x3 mask. A decoy image holds three targets first, so database ids never equal the panel's 1..n."""
    olga = make_user("olga")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=olga, role=Role.OWNER)
    decoy = ImageFactory(project=project, pixels=blobs_frame(seed=9), original_name="decoy.png")
    for x in (5.0, 6.0, 7.0):
        TargetFactory(image=decoy, x=x, y=5.0)
    Image.objects.filter(pk=decoy.pk).update(status=ImageStatus.CONFIRMED)
    image = ImageFactory(project=project, pixels=blobs_frame(), original_name="harbour16.png")
    a = TargetFactory(image=image, x=20.0, y=20.0, created_by=olga)
    b = TargetFactory(image=image, x=60.0, y=40.0, created_by=olga)
    MaskFactory(target=a)
    MaskFactory(target=b, warnings=["adhesion"])
    return {"olga": olga, "project": project, "image": image, "a": a, "b": b}


def _open(page, base, image):
    page.goto(f"{base}/#/i/{image.pk}")
    page.wait_for_function("id => window.__irlabel && window.__irlabel.image.id === id", arg=image.pk)
    page.wait_for_selector("canvas.stage[data-ready='1']")


def _window(page) -> tuple[float, float]:
    lo, hi = page.get_attribute("canvas.stage", "data-window").split(",")
    return float(lo), float(hi)


def test_shortcuts_keep_working_after_a_slider_or_a_menu(harbour, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, harbour["image"])
    page.click("[name=opacity]")  # the slider takes the focus
    page.keyboard.press("m")
    expect(page.locator("[name=masks]")).not_to_be_checked()
    page.click("[name=hi]")
    page.keyboard.press("i")
    expect(page.locator("[name=invert]")).to_be_checked()
    page.click("[name=invert]")  # a checkbox too
    page.keyboard.press("m")
    expect(page.locator("[name=masks]")).to_be_checked()
    page.select_option("[name=colormap]", "jet")
    page.keyboard.press("k")  # the next colour map after jet wraps to gray
    expect(page.locator("[name=colormap]")).to_have_value("gray")
    # A text field keeps its keys: typing a number is not "zoom to 100%".
    scale = page.get_attribute("canvas.stage", "data-scale")
    page.click("[name=level]")
    page.keyboard.press("1")
    assert page.get_attribute("canvas.stage", "data-scale") == scale
    assert not page.js_errors


def test_window_level_by_number_by_drag_and_a_fine_slider(harbour, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, harbour["image"])
    frame = blobs_frame()

    # Exact number entry: level and window, then min and max.
    page.fill("[name=level]", "9000")
    page.fill("[name=width]", "400")
    page.press("[name=width]", "Enter")
    assert _window(page) == (8800, 9200)
    expect(page.locator("[name=lo-value]")).to_have_value("8800")
    page.fill("[name=lo-value]", "8123")
    page.press("[name=lo-value]", "Enter")
    assert _window(page) == (8123, 9200)
    expect(page.locator("[name=width]")).to_have_value("1077")

    # The slider spends its travel where the frame's values are: a few grey levels per pixel on the background,
    # not 65535 / width (about 400), and its right end still reaches the brightest pixel.
    box = page.locator("[name=lo]").bounding_box()
    y = box["y"] + box["height"] / 2
    lows = []
    for dx in (0, 4):
        page.mouse.click(box["x"] + box["width"] * 0.4 + dx, y)
        lows.append(_window(page)[0])
    per_pixel = abs(lows[1] - lows[0]) / 4
    assert per_pixel <= 20, lows
    assert frame.min() <= lows[0] <= np.percentile(frame, 99)
    hi_box = page.locator("[name=hi]").bounding_box()
    page.mouse.click(hi_box["x"] + hi_box["width"] - 1, hi_box["y"] + hi_box["height"] / 2)
    assert _window(page)[1] == frame.max()

    # Right-drag on the image: sideways widens the window, downwards raises the level; starting on a point neither
    # deletes nor adds one.
    page.fill("[name=level]", "9000")
    page.fill("[name=width]", "400")
    page.press("[name=width]", "Enter")
    start = to_screen(page, 20, 20)
    page.mouse.move(start["px"], start["py"])
    page.mouse.down(button="right")
    page.mouse.move(start["px"] + 80, start["py"], steps=4)
    lo, hi = _window(page)
    assert hi - lo > 600 and abs((lo + hi) / 2 - 9000) < 1
    page.mouse.move(start["px"] + 80, start["py"] + 40, steps=4)
    page.mouse.up(button="right")
    lo2, hi2 = _window(page)
    assert (lo2 + hi2) / 2 > 9100 and abs((hi2 - lo2) - (hi - lo)) < 1
    page.wait_for_timeout(300)
    expect(page.locator(".target-list .target")).to_have_count(2)
    # A right-click without a drag still deletes the point under it.
    b = to_screen(page, 60, 40)
    page.mouse.click(b["px"], b["py"], button="right")
    expect(page.locator(".target-list .target")).to_have_count(1)
    _wait_until(lambda: not Target.objects.filter(pk=harbour["b"].pk).exists())  # stored, not just drawn
    assert not page.js_errors


def _wait_until(condition, seconds: float = 10.0) -> None:
    """The server has done it (the test must not end while its request still holds row locks)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.1)


def _above_the_fold(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 700, (selector, box)
    on_top = page.evaluate(
        """(sel) => { const b = document.querySelector(sel).getBoundingClientRect();
            const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
            return Boolean(hit && hit.closest(sel)); }""",
        selector,
    )
    assert on_top, f"{selector} is covered or clipped"


def test_submit_and_confirm_are_visible_at_1024x700(harbour, live_server, new_page):
    project, image = harbour["project"], harbour["image"]
    sam = make_user("sam")
    MembershipFactory(project=project, user=sam, role=Role.ANNOTATOR)
    for k in range(8):  # a busy frame: the target list is long
        target = TargetFactory(image=image, x=10.0 + 7 * k, y=55.0, created_by=sam)
        MaskFactory(target=target, warnings=["adhesion"] if k % 2 else [])
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.SUBMITTED, assigned_to=sam, submitted_by=sam)
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 700})
    login(page, live_server.url, "olga")
    _open(page, live_server.url, image)
    _above_the_fold(page, "button[data-act=confirm]")
    _above_the_fold(page, "button[data-act=reject-image]")
    assert page.evaluate("() => document.scrollingElement.scrollHeight") <= 700  # the page itself does not scroll
    screenshot(page, "labeler-1024x700")

    Image.objects.filter(pk=image.pk).update(status=ImageStatus.IN_PROGRESS, assigned_to=harbour["olga"])
    page.reload()
    page.wait_for_selector("canvas.stage[data-ready='1']")
    _above_the_fold(page, "button[data-act=submit]")
    assert not page.js_errors


def test_status_numbering_and_pixel_counts_update_while_editing(harbour, live_server, new_page):
    b = harbour["b"]
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, harbour["image"])
    row = page.locator(f".target[data-target='{b.pk}']")
    expect(row.locator(".idx")).to_have_text("2")
    expect(row.locator(".area")).to_have_text("9 px")
    row.locator(".idx").click()
    page.keyboard.press("b")
    spot = to_screen(page, 60, 42)  # next to target 2's 3x3 mask
    page.mouse.click(spot["px"], spot["py"])
    expect(row.locator(".area")).to_have_text("10 px")  # counted while editing, before any save
    expect(row.locator(".state")).to_have_text("edited (unsaved)")
    expect(page.locator("button[data-act=save]")).to_have_text("Save (1)")

    page.keyboard.press("Control+s")
    expect(page.locator(".message")).to_have_text("Mask of target 2 saved (version 2).")  # the panel's number
    expect(page.locator("button[data-act=save]")).to_have_text("Save")
    page.keyboard.press("y")
    expect(page.locator(".message")).to_have_text("Target 2: mask confirmed.")

    badge = page.locator(".image-info [data-status]")
    expect(badge).to_have_attribute("data-status", "new")
    page.keyboard.press("a")
    spot = to_screen(page, 40, 10)
    page.mouse.click(spot["px"], spot["py"])
    expect(badge).to_have_attribute("data-status", "in_progress")  # without a reload
    expect(badge).to_have_text("in progress")
    assert not page.js_errors


def test_the_next_image_is_preloaded_and_opens_with_the_same_view(harbour, live_server, new_page):
    project, image = harbour["project"], harbour["image"]
    sam = make_user("sam")
    MembershipFactory(project=project, user=sam, role=Role.ANNOTATOR)
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.IN_PROGRESS, assigned_to=sam)
    following = ImageFactory(project=project, pixels=blobs_frame(seed=11), original_name="harbour16b.png")
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, image)
    page.wait_for_function(
        "id => document.querySelector('canvas.stage').dataset.preloaded === String(id)", arg=following.pk, timeout=5000
    )
    page.evaluate("() => window.__irlabel.stage.setView({scale: 4, ox: -37, oy: -21})")
    page.fill("[name=level]", "9000")
    page.fill("[name=width]", "400")
    page.press("[name=width]", "Enter")
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    page.keyboard.press("n")
    page.wait_for_function("id => window.__irlabel && window.__irlabel.image.id === id", arg=following.pk)
    page.wait_for_selector("canvas.stage[data-ready='1']")
    assert not [url for url in fetched if f"/images/{following.pk}/pixels/" in url]  # already here
    assert page.evaluate("() => ({...window.__irlabel.stage.view})") == {"scale": 4, "ox": -37, "oy": -21}
    assert _window(page) == (8800, 9200)
    assert not page.js_errors
