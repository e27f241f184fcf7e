"""A full labeling session in Chromium against the live server and a real worker: upload, points, masks, brush,
undo/redo, accept, submit, review as another user, dashboard."""

import re

import pytest
from playwright.sync_api import expect

from labeling.choices import ImageStatus, MaskState
from labeling.models import Image, Mask, Target
from tests.browser.conftest import (
    blobs_frame,
    canvas_pixel,
    login,
    logout,
    make_user,
    png_file,
    screenshot,
    to_screen,
)

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(celery_worker_process, settings):
    settings.MEDIA_ROOT = celery_worker_process.media_root
    return celery_worker_process


def _masks_applied(page) -> int:
    return int(page.get_attribute("canvas.stage", "data-masks-applied") or 0)


def _wait_masks(page, count: int) -> None:
    page.wait_for_function(
        "n => { const c = document.querySelector('canvas.stage');"
        " return Number(c.dataset.masksApplied) >= n && c.dataset.pending === '0'; }",
        arg=count,
    )


def _mask_pixel_away_from_point(page, target_index: int) -> dict:
    """A pixel of the target's mask as far as possible from its point (so the marker does not cover it)."""
    return page.evaluate(
        """(k) => {
            const {session, pixels} = window.__irlabel;
            const t = session.targets[k];
            const mask = session.masks.get(t.ref.id);
            let best = null;
            for (let i = 0; i < mask.raster.length; i++) {
                if (!mask.raster[i]) continue;
                const x = i % pixels.width, y = Math.floor(i / pixels.width);
                const d = Math.hypot(x - t.x, y - t.y);
                if (!best || d > best.d) best = {x, y, d};
            }
            return best;
        }""",
        target_index,
    )


def test_full_labeling_session(worker, live_server, new_page, tmp_path):
    make_user("olga")
    make_user("rita")
    base = live_server.url
    page = new_page()

    # --- log in, create a project, upload a 16-bit and an 8-bit frame, add a reviewer ---------------
    login(page, base, "olga")
    page.fill(".create-project input[name=name]", "Sea clutter")
    page.click(".create-project button")
    page.wait_for_selector(".dashboard .status-bars")
    project_id = int(re.search(r"#/p/(\d+)", page.url).group(1))
    sixteen = png_file(tmp_path / "frame16.png", blobs_frame())
    eight = png_file(tmp_path / "frame8.png", blobs_frame(dtype="uint8", seed=5))
    page.set_input_files(".upload input[type=file]", str(sixteen))
    expect(page.locator(".upload-item.ok")).to_have_count(1)
    page.set_input_files(".upload input[type=file]", [str(eight), str(sixteen)])
    expect(page.locator(".upload-item.ok")).to_have_count(2)
    expect(page.locator(".upload-item.failed")).to_have_count(1)  # the duplicate is refused, by name
    expect(page.locator(".upload-item.failed .result")).to_contain_text("frame16.png")
    expect(page.locator(".bar-row[data-status=new] .n")).to_have_text("2")
    page.fill(".add-member input[name=username]", "rita")
    page.select_option(".add-member select[name=role]", "reviewer")
    page.click(".add-member button")
    expect(page.locator(".members tr", has_text="rita")).to_have_count(1)

    # --- image list with filters, then "next image" claims the 16-bit frame -------------------------
    page.click("a.button:has-text('Images')")
    expect(page.locator(".image-card")).to_have_count(2)
    expect(page.locator(".image-card canvas.thumb")).to_have_count(2)  # contrast-stretched thumbnails
    thumb = page.evaluate(
        """() => { const cards = [...document.querySelectorAll('.image-card')];
            const card = cards.find((c) => c.textContent.includes('frame16'));
            const thumb = card.querySelector('canvas.thumb');
            const k = Number(thumb.dataset.scale), top = (thumb.height - 64 * k) / 2;
            const at = (x, y) => thumb.getContext('2d').getImageData((x + 0.5) * k, top + (y + 0.5) * k, 1, 1).data[0];
            return [at(20, 20), at(5, 50)]; }"""
    )
    assert thumb[0] > 200 and thumb[1] < 120  # the 16-bit target stands out in its thumbnail
    screenshot(page, "images")
    page.click("button.next-image")
    page.wait_for_selector("canvas.stage[data-ready='1']")
    image = Image.objects.get(project_id=project_id, original_name="frame16.png")
    assert page.url.endswith(f"#/i/{image.pk}")
    info = page.evaluate(
        "() => ({dtype: window.__irlabel.pixels.dtype, window: document.querySelector('canvas.stage').dataset.window})"
    )
    lo, hi = (int(v) for v in info["window"].split(","))
    assert info["dtype"] == "uint16" and lo > 255 and hi > 8000  # windowed from the raw 16-bit values
    peak = _drawn(page, 20, 20)
    assert _drawn(page, 5, 50)[0] < 60 and peak[0] > 200 and peak[0] == peak[1] == peak[2]  # grey, target bright

    # --- a click adds a point; its mask is generated by the worker and drawn --------------------------
    a = to_screen(page, 20.3, 19.8)
    page.mouse.click(a["px"], a["py"])
    _wait_masks(page, 1)
    expect(page.locator(".target-list .target")).to_have_count(1)
    expect(page.locator(".target-list .target .state")).to_have_text("predicted")
    expect(page.locator(".gen-status")).to_have_text(re.compile(r"masks in \d+ ms"))
    target_a = Target.objects.get(image=image)
    assert abs(target_a.x - 20.3) < 0.1 and abs(target_a.y - 19.8) < 0.1  # sub-pixel position kept
    far = _mask_pixel_away_from_point(page, 0)
    shown = _drawn(page, far["x"], far["y"])
    page.keyboard.press("m")  # hide masks: the same screen pixel goes back to the plain image
    hidden = _drawn(page, far["x"], far["y"])
    page.keyboard.press("m")
    assert shown != hidden and hidden[0] == hidden[1] == hidden[2]
    assert len(set(shown[:3])) > 1  # tinted with the target's colour

    # --- a second point; move it by dragging; delete it with a right-click; undo/redo ----------------
    b = to_screen(page, 60, 40)
    page.mouse.click(b["px"], b["py"])
    _wait_masks(page, 2)
    expect(page.locator(".target-list .target")).to_have_count(2)
    assert Mask.objects.filter(image=image).count() == 2
    moved = to_screen(page, 60.6, 40.4)
    page.mouse.move(b["px"], b["py"])
    page.mouse.down()
    page.mouse.move(moved["px"], moved["py"], steps=5)
    page.mouse.up()
    _wait_masks(page, 3)
    target_b = Target.objects.exclude(pk=target_a.pk).get(image=image)
    assert abs(target_b.x - 60.6) < 0.1 and abs(target_b.y - 40.4) < 0.1 and target_b.version == 2
    page.mouse.click(moved["px"], moved["py"], button="right")
    _wait_masks(page, 4)
    expect(page.locator(".target-list .target")).to_have_count(1)
    assert list(Target.objects.filter(image=image).values_list("pk", flat=True)) == [target_a.pk]
    page.keyboard.press("Control+z")  # undo the delete: the point comes back where it was
    _wait_masks(page, 5)
    expect(page.locator(".target-list .target")).to_have_count(2)
    back = Target.objects.exclude(pk=target_a.pk).get(image=image)
    assert abs(back.x - 60.6) < 0.1 and abs(back.y - 40.4) < 0.1
    page.keyboard.press("Control+Shift+z")  # redo the delete
    _wait_masks(page, 6)
    expect(page.locator(".target-list .target")).to_have_count(1)
    assert Target.objects.filter(image=image).count() == 1
    screenshot(page, "labeler")

    # --- brush one pixel onto target A's mask, undo/redo it, save it ---------------------------------
    page.click(".target-list .target .idx")  # select A
    page.keyboard.press("b")
    spot = _outside_pixel(page, 0)
    before = _drawn(page, spot["x"], spot["y"])
    s = to_screen(page, spot["x"], spot["y"])
    page.mouse.click(s["px"], s["py"])
    painted = _drawn(page, spot["x"], spot["y"])
    assert painted != before and _raster(page, 0, spot) == 1
    page.keyboard.press("Control+z")
    assert _raster(page, 0, spot) == 0 and _drawn(page, spot["x"], spot["y"]) == before
    page.keyboard.press("Control+y")
    assert _raster(page, 0, spot) == 1 and _drawn(page, spot["x"], spot["y"]) == painted
    area_before = Mask.objects.get(target=target_a).area
    page.keyboard.press("Control+s")
    expect(page.locator(".message")).to_contain_text("saved")
    saved = Mask.objects.get(target=target_a)
    assert saved.state == MaskState.EDITED and saved.area == area_before + 1

    # --- submit the image: rita can review too, so olga is not offered her own mask's accept (issue 18, item 5) -----
    expect(page.locator(".target-list .target button[data-act=accept]")).to_have_count(0)
    page.click("button[data-act=submit]")
    expect(page.locator(".image-info [data-status]")).to_have_attribute("data-status", "submitted")
    image.refresh_from_db()
    assert image.status == ImageStatus.SUBMITTED
    assert not page.js_errors

    # --- the reviewer confirms it from the review queue ----------------------------------------------
    logout(page)
    login(page, base, "rita")
    page.goto(f"{base}/#/p/{project_id}/images?status=submitted")
    expect(page.locator(".image-card")).to_have_count(1)
    page.click(".image-card a")
    page.wait_for_selector("canvas.stage[data-ready='1']")
    expect(page.locator("button[data-act=submit]")).to_have_count(0)
    expect(page.locator(".target-list .target")).to_have_count(1)
    screenshot(page, "review")
    page.click("button[data-act=confirm]")
    expect(page.locator(".image-info [data-status]")).to_have_attribute("data-status", "confirmed")
    image.refresh_from_db()
    assert image.status == ImageStatus.CONFIRMED
    confirmed = Mask.objects.select_related("confirmed_by").get(target=target_a)
    assert confirmed.state == MaskState.CONFIRMED and confirmed.confirmed_by.username == "rita"
    page.click("button[data-act=next-review]")
    expect(page.locator(".message")).to_have_text("The review queue is empty.")

    # --- the dashboard counts it --------------------------------------------------------------------
    page.goto(f"{base}/#/p/{project_id}")
    expect(page.locator(".bar-row[data-status=confirmed] .n")).to_have_text("1")
    expect(page.locator(".bar-row[data-status=new] .n")).to_have_text("1")
    expect(page.locator(".annotators tr[data-user=olga] td[data-col=confirmed]")).to_have_text("1")
    expect(page.locator(".upload")).to_be_hidden()  # a reviewer cannot upload: no upload panel
    expect(page.locator(".add-member")).to_have_count(0)
    expect(page.locator(".export-form")).to_have_count(0)  # exports are for managers
    assert not page.js_errors

    # --- the owner starts an export and downloads the zip once its progress bar is full ---------------
    logout(page)
    login(page, base, "olga")
    page.goto(f"{base}/#/p/{project_id}")
    page.check(".export-form [name=confirmed_only]")
    page.click(".export-form button.export")
    export = page.locator(".job", has_text="export")
    expect(export.locator(".badge")).to_have_text("succeeded", timeout=30000)
    expect(export.locator("progress")).to_have_attribute("value", "100")
    href = export.locator("a.download").get_attribute("href")
    response = page.request.get(f"{base}{href}")
    assert response.status == 200 and response.body()[:2] == b"PK"
    screenshot(page, "dashboard", full_page=True)
    assert not page.js_errors


def _drawn(page, x: float, y: float) -> list[int]:
    s = to_screen(page, x, y)
    return canvas_pixel(page, s["x"], s["y"])


def _raster(page, target_index: int, spot: dict) -> int:
    return page.evaluate(
        """([k, x, y]) => { const {session, pixels} = window.__irlabel;
            return session.masks.get(session.targets[k].ref.id).raster[y * pixels.width + x]; }""",
        [target_index, spot["x"], spot["y"]],
    )


def _outside_pixel(page, target_index: int) -> dict:
    """A pixel next to the target's mask (not in it), a few pixels from the point."""
    return page.evaluate(
        """(k) => { const {session, pixels} = window.__irlabel;
            const t = session.targets[k]; const r = session.masks.get(t.ref.id).raster;
            for (let d = 3; d < 20; d++) { const x = Math.round(t.x), y = Math.round(t.y) + d;
                if (!r[y * pixels.width + x]) return {x, y}; }
            return null; }""",
        target_index,
    )
