"""Labels that used to be damaged without a warning (issue 18, items 1-3 and 5), in Chromium without a worker: the
brush edits the target it touches, flags reach the reviewer, a mask missing its point needs the reviewer's decision,
a rejection's comment reaches the annotator, and the annotator is not offered Confirm."""

import pytest
from playwright.sync_api import expect

from labeling.choices import ImageStatus, MaskState, Role
from labeling.models import AuditLog, Image, Mask
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.system.browser.conftest import blobs_frame, login, logout, make_user, to_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
W = 80  # blobs_frame() is 64 x 80


@pytest.fixture
def two_targets(db):
    """Owner olga; a 16-bit frame with target 1 at (20, 20) and target 2 at (60, 40), each with a 3x3 mask."""
    olga = make_user("olga")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=olga, role=Role.OWNER)
    image = ImageFactory(project=project, pixels=blobs_frame(), original_name="harbour16.png")
    a = TargetFactory(image=image, x=20.0, y=20.0, created_by=olga)
    b = TargetFactory(image=image, x=60.0, y=40.0, created_by=olga)
    MaskFactory(target=a)
    MaskFactory(target=b)
    return {"olga": olga, "project": project, "image": image, "a": a, "b": b}


def _open(page, base, image):
    page.goto(f"{base}/#/i/{image.pk}")
    page.wait_for_selector("canvas.stage[data-ready='1']")


def _click(page, x, y):
    s = to_screen(page, x, y)
    page.mouse.click(s["px"], s["py"])


def _local(page, target, x, y) -> int:
    return page.evaluate(
        "([id, i]) => window.__irlabel.session.masks.get(id).raster[i]", [target.pk, int(y) * W + int(x)]
    )


def test_a_stroke_goes_to_the_target_it_touches_not_the_selected_one(two_targets, live_server, new_page):
    """Item 1: with target 2 selected, painting next to target 1 edits target 1; a stroke near nothing is refused;
    a saved stroke far larger than the target's blob carries `too_large` in the panel."""
    a, b = two_targets["a"], two_targets["b"]
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, two_targets["image"])
    page.click(f".target[data-target='{b.pk}'] .idx")  # select target 2, far away
    page.keyboard.press("b")
    _click(page, 22, 20)  # right next to target 1's mask (columns 19-21)
    assert _local(page, a, 22, 20) == 1 and _local(page, b, 22, 20) == 0
    expect(page.locator(".message")).to_have_text(
        "Editing target 1, the one this stroke touches (target 2 was selected)."
    )
    expect(page.locator(f".target[data-target='{a.pk}']")).to_have_class("target selected")

    _click(page, 40, 62)  # 28 px from target 2, 45 px from target 1: no target's stroke
    expect(page.locator(".message")).to_contain_text("Not painted: this stroke touches no mask")
    assert _local(page, a, 40, 62) == 0 and _local(page, b, 40, 62) == 0

    start, end = to_screen(page, 21, 20), to_screen(page, 56, 40)  # from target 1's mask almost to target 2
    page.mouse.move(start["px"], start["py"])
    page.mouse.down()
    page.mouse.move(end["px"], end["py"], steps=12)
    page.mouse.up()
    page.keyboard.press("Control+s")
    expect(page.locator(".message")).to_contain_text("Mask of target 1 saved")
    saved = Mask.objects.get(target=a)
    assert saved.warnings == ["too_large"] and saved.area > 27  # over 3x its 9-pixel blob
    assert Mask.objects.get(target=b).area == 9  # target 2 untouched
    expect(page.locator(f".target[data-target='{a.pk}'] .badge.warn")).to_have_text("too_large")
    expect(page.locator(".warning-list li")).to_have_text("#1: too_large")
    assert not page.js_errors


def test_a_mask_without_its_point_is_shown_and_the_reviewer_decides(two_targets, live_server, new_page):
    """Items 2 and 5: the annotator erases target 2's point pixel and submits; she is not offered Confirm (two people
    can review). The review queue shows the flag; Confirm asks, Cancel keeps the image submitted, OK confirms."""
    project, image, b = two_targets["project"], two_targets["image"], two_targets["b"]
    rex = make_user("rex")
    MembershipFactory(project=project, user=rex, role=Role.REVIEWER)
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, image)
    page.keyboard.press("e")
    _click(page, 60, 40)  # the eraser takes the pixel under target 2's point
    assert _local(page, b, 60, 40) == 0
    page.keyboard.press("Control+s")
    expect(page.locator(f".target[data-target='{b.pk}'] .badge.warn")).to_have_text("point_outside")
    expect(page.locator(".warning-list li")).to_have_text("#2: point_outside")
    page.click("button[data-act=submit]")
    expect(page.locator(".image-info [data-status]")).to_have_attribute("data-status", "submitted")
    expect(page.locator(".rule-note")).to_have_text(
        "You annotated this image: another reviewer confirms it (project rule)."
    )
    expect(page.locator("button[data-act=confirm]")).to_have_count(0)
    expect(page.locator(".target-list button[data-act=accept]")).to_have_count(0)

    logout(page)
    login(page, live_server.url, "rex")
    page.goto(f"{live_server.url}/#/p/{project.pk}/images?status=submitted")
    card = page.locator(f".image-card[data-image='{image.pk}']")
    expect(card.locator(".badge.point-outside")).to_have_text("point outside mask")
    card.locator("a").click()
    page.wait_for_selector("canvas.stage[data-ready='1']")
    expect(page.locator(f".target[data-target='{b.pk}'] .badge.warn-point_outside")).to_be_visible()
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.click("button[data-act=confirm]")
    expect(page.locator(".message")).to_have_text("Not confirmed: a mask still misses its own point.")
    assert "does not contain its own point" in asked[0] and asked[0].endswith("Confirm anyway?")
    assert Image.objects.get(pk=image.pk).status == ImageStatus.SUBMITTED
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.click("button[data-act=confirm]")
    expect(page.locator(".image-info [data-status]")).to_have_attribute("data-status", "confirmed")
    assert len(asked) == 2
    assert Mask.objects.get(target=b).state == MaskState.CONFIRMED
    entry = AuditLog.objects.get(action="image.confirm", object_id=str(image.pk))
    assert entry.actor == rex and entry.data["acknowledged"] == ["point_outside"]
    assert not page.js_errors


def test_the_reject_comment_reaches_the_annotator(two_targets, live_server, new_page):
    """Item 3: a reviewer rejects a mask and the image with comments; the annotator sees who wrote them, and when,
    in her image list and next to the image."""
    project, image, a = two_targets["project"], two_targets["image"], two_targets["a"]
    olga = two_targets["olga"]
    Image.objects.filter(pk=image.pk).update(status=ImageStatus.SUBMITTED, assigned_to=olga, submitted_by=olga)
    rex = make_user("rex")
    MembershipFactory(project=project, user=rex, role=Role.REVIEWER)
    page = new_page()
    login(page, live_server.url, "rex")
    _open(page, live_server.url, image)
    page.once("dialog", lambda dialog: dialog.accept("this is two targets touching"))
    page.click(f".target[data-target='{a.pk}'] button[data-act=reject]")
    expect(page.locator(f".target[data-target='{a.pk}'] .state")).to_have_text("rejected")
    page.fill("textarea[name=comment]", "split target 1, then submit again")
    page.click("button[data-act=reject-image]")
    expect(page.locator(".image-info [data-status]")).to_have_attribute("data-status", "rejected")

    logout(page)
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{project.pk}/images?assigned_to=me")
    note = page.locator(f".image-card[data-image='{image.pk}'] .review-note")
    expect(note).to_contain_text("Sent back by rex")
    expect(note).to_contain_text("split target 1, then submit again")
    assert note.locator("time").get_attribute("datetime")  # when, from the server
    page.click(f".image-card[data-image='{image.pk}'] a")
    page.wait_for_selector("canvas.stage[data-ready='1']")
    expect(page.locator(".image-info .review-note")).to_contain_text("Sent back by rex")
    expect(page.locator(".image-info .review-note")).to_contain_text("split target 1, then submit again")
    expect(page.locator(f".target[data-target='{a.pk}'] .mask-rejection")).to_have_text(
        "rejected by rex: this is two targets touching"
    )
    assert not page.js_errors
