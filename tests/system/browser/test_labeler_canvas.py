"""The canvas without a worker: what is drawn at each zoom and window, remembered display settings, warnings,
the 409 path that keeps a local edit, and the controls each role gets."""

import time

import numpy as np
import pytest
from playwright.sync_api import expect

from labeling.choices import Role
from labeling.models import Mask
from labeling.services.masks import mask_replace
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory
from tests.system.browser.conftest import (
    blobs_frame,
    canvas_pixel,
    drop_files,
    login,
    make_user,
    screenshot,
    to_screen,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def labeled(db):
    """A project with a 16-bit frame, target A (plain mask) and target B (mask flagged `adhesion`)."""
    owner = make_user("olga")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    image = ImageFactory(project=project, pixels=blobs_frame(), original_name="harbour16.png")
    a = TargetFactory(image=image, x=20.0, y=20.0)
    b = TargetFactory(image=image, x=60.0, y=40.0)
    MaskFactory(target=a)
    MaskFactory(target=b, warnings=["adhesion"])
    return {"owner": owner, "project": project, "image": image, "a": a, "b": b}


def _open(page, base, image):
    page.goto(f"{base}/#/i/{image.pk}")
    page.wait_for_selector("canvas.stage[data-ready='1']")


def _drawn(page, x, y, dx=0.0, dy=0.0):
    s = to_screen(page, x, y)
    return canvas_pixel(page, s["x"] + dx, s["y"] + dy)


def test_window_zoom_grid_pan_and_remembered_display(labeled, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, labeled["image"])
    page.keyboard.press("m")  # masks off: look at the image itself
    hover = to_screen(page, 21.2, 20.9)
    page.mouse.move(hover["px"], hover["py"])
    raw = int(blobs_frame()[21, 21])
    expect(page.locator(".readout")).to_have_text(f"x 21.20  y 20.90  value {raw}")  # the raw 16-bit value
    peak = _drawn(page, 21, 21)  # next to the point marker, still on the bright target
    assert peak[0] > 150 and peak[0] == peak[1] == peak[2]

    page.keyboard.press("i")  # invert: the bright target is drawn dark
    assert _drawn(page, 21, 21)[0] < 100
    page.keyboard.press("k")  # next colour map: no longer grey
    coloured = _drawn(page, 5, 50)
    assert not coloured[0] == coloured[1] == coloured[2]
    # A manual window on the raw 16-bit values: everything below 30000 is black, so the background is.
    page.fill("[name=lo-value]", "30000")  # typed: the slider follows the frame's histogram, not raw values
    page.press("[name=lo-value]", "Enter")
    window = page.get_attribute("canvas.stage", "data-window")
    assert window.startswith("30000,")

    page.reload()  # remembered per project
    page.wait_for_selector("canvas.stage[data-ready='1']")
    assert page.get_attribute("canvas.stage", "data-window") == window
    assert page.is_checked("[name=invert]") and page.input_value("[name=colormap]") == "inferno"
    page.keyboard.press("c")  # auto-contrast again
    page.keyboard.press("i")
    page.select_option("[name=colormap]", "gray")
    page.keyboard.press("m")

    # Zoom to 3200%: one image pixel is a 32x32 block of one colour, with grid lines on its edges.
    page.keyboard.press("Tab")  # select target A: centred at 1600%
    for _ in range(3):
        page.keyboard.press("+")
    assert float(page.get_attribute("canvas.stage", "data-scale")) == 32
    page.keyboard.press("m")  # masks off again to read the image pixels
    inside = [_drawn(page, 19, 21, dx, dy) for dx, dy in ((-8, -8), (8, 8), (-8, 8))]
    assert inside[0] == inside[1] == inside[2]  # no smoothing inside a pixel
    assert _drawn(page, 20, 21) != inside[0]  # the neighbour has its own value
    edge = _drawn(page, 19.5, 21, dx=0.5)  # the line between the two pixels
    assert edge not in (inside[0], _drawn(page, 20, 21))  # the pixel grid
    before = page.evaluate("() => ({...window.__irlabel.stage.view})")
    s = to_screen(page, 19, 21)
    page.keyboard.down(" ")
    page.mouse.move(s["px"], s["py"])
    page.mouse.down()
    page.mouse.move(s["px"] + 64, s["py"] + 32, steps=4)
    page.mouse.up()
    page.keyboard.up(" ")
    after = page.evaluate("() => ({...window.__irlabel.stage.view})")
    assert (after["ox"] - before["ox"], after["oy"] - before["oy"]) == (64, 32)
    assert page.locator(".target-list .target").count() == 2  # panning added no point


def test_warnings_panel_and_next_warning_key(labeled, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, labeled["image"])
    expect(page.locator(".warning-list li")).to_have_count(1)
    expect(page.locator(".warning-list li")).to_contain_text("adhesion")
    expect(page.locator(f".target[data-target='{labeled['b'].pk}'] .badge.warn")).to_have_text("adhesion")
    page.keyboard.press("w")
    expect(page.locator(f".target[data-target='{labeled['b'].pk}']")).to_have_class("target selected")
    view = page.evaluate(
        "() => { const {stage, imageToScreen} = window.__irlabel; const s = imageToScreen(stage.view, 60, 40);"
        " return {scale: stage.view.scale, dx: s.x - stage.cssWidth / 2, dy: s.y - stage.cssHeight / 2}; }"
    )
    assert view["scale"] >= 16 and abs(view["dx"]) < 1 and abs(view["dy"]) < 1  # jumped and zoomed to it
    page.keyboard.press("o")  # masks filled
    screenshot(page, "labeler-warning")
    page.keyboard.press("o")
    page.keyboard.press("?")
    expect(page.locator(".help-overlay")).to_be_visible()
    expect(page.locator(".help-overlay")).to_contain_text("next warning")
    screenshot(page, "help")
    page.keyboard.press("Escape")
    expect(page.locator(".help-overlay")).to_be_hidden()


def test_conflict_keeps_the_local_edit_until_overwritten(labeled, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, labeled["image"])
    a = labeled["a"]
    page.click(f".target[data-target='{a.pk}'] .idx")
    page.keyboard.press("b")
    spot = to_screen(page, 20, 24)  # below the 3x3 mask
    page.mouse.click(spot["px"], spot["py"])
    # Meanwhile someone else saves another edit of the same mask.
    theirs = np.zeros((64, 80), bool)
    theirs[18:23, 18:23] = True
    mask = Mask.objects.get(target=a)
    mask_replace(target=a, raster=theirs, version=mask.version, actor=labeled["owner"])

    page.keyboard.press("Control+s")
    expect(page.locator(".message")).to_contain_text("someone else changed the mask")
    expect(page.locator("button[data-act=overwrite]")).to_be_visible()
    assert Mask.objects.get(target=a).area == 25  # theirs, untouched
    local = page.evaluate(
        f"() => {{ const {{session}} = window.__irlabel; return session.masks.get({a.pk}).raster[24 * 80 + 20]; }}"
    )
    assert local == 1  # our edit is still here

    page.click("button[data-act=overwrite]")
    expect(page.locator(".message")).to_contain_text("Mask of target 1 saved")
    saved = Mask.objects.get(target=a)
    assert saved.area == 10 and saved.state == "edited"  # the 3x3 plus our one pixel


def test_a_viewer_gets_no_editing_controls(labeled, live_server, new_page):
    make_user("vera")
    from django.contrib.auth import get_user_model

    MembershipFactory(project=labeled["project"], user=get_user_model().objects.get(username="vera"), role=Role.VIEWER)
    page = new_page()
    login(page, live_server.url, "vera")
    _open(page, live_server.url, labeled["image"])
    assert page.get_attribute("canvas.stage", "data-tool") == "view"
    expect(page.locator("button[data-act=submit]")).to_have_count(0)
    expect(page.locator("button[data-act=accept]")).to_have_count(0)
    expect(page.locator("button[data-act=confirm]")).to_have_count(0)
    s = to_screen(page, 40, 10)
    page.mouse.click(s["px"], s["py"])
    page.wait_for_timeout(200)
    assert page.locator(".target-list .target").count() == 2
    page.goto(f"{live_server.url}/#/p/{labeled['project'].pk}")
    page.wait_for_selector(".dashboard .status-bars .bar-row")
    expect(page.locator(".upload")).to_have_count(0)
    expect(page.locator(".add-member")).to_have_count(0)
    expect(page.locator("button.next-image")).to_have_count(0)
    expect(page.locator(".members select")).to_have_count(0)
    assert not page.js_errors


def test_dashboard_models_curve_and_live_job_progress(labeled, live_server, new_page):
    from labeling.models import Job
    from tests.factories import JobFactory, ModelVersionFactory

    project = labeled["project"]
    curve = [{"kind": "loss", "step": s, "loss": 1.0 / (1 + s), "lr": 1e-3} for s in range(0, 200, 10)]
    curve += [
        {"kind": "selection", "step": s, "iou": 0.5 + s / 1000, "pd": 0.9, "fat": 0.0, "fa": 1e-5} for s in (50, 150)
    ]
    ModelVersionFactory(project=project, curve=curve, metrics={"iou": 0.712, "pd": 0.95}, status="promoted")
    reason = "IoU 81.68 > 81.37, but the gain of +0.31 is not sure on 48 images (its 95% lower bound is -0.92)"
    ModelVersionFactory(project=project, status="rejected", gate={"promoted": False, "reason": reason})
    gapless = {"alpha": 0.3, "use_grabcut": False, "size_rule": True, "gaps": False}  # calibrated on touching masks
    ModelVersionFactory(project=project, kind="coldstart", arch="cold start", params=gapless, status="candidate")
    job = JobFactory(project=project, kind="train", status="running", progress=40, message="step 80")
    page = new_page()
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    row = page.locator(f".job[data-job='{job.pk}']")
    expect(row.locator("progress")).to_have_attribute("value", "40")
    expect(page.locator(".model svg.curve path.loss")).to_have_count(1)
    assert page.locator(".model svg.curve circle.iou").count() == 2  # one dot per selection evaluation
    expect(page.locator(".model").first).to_contain_text("iou 0.712")
    expect(page.locator(".model .gate-reason")).to_have_text(reason)
    expect(page.locator(".model button[data-act=retire]")).to_have_count(1)
    expect(page.locator(".model", has_text="cold start")).to_contain_text("α 0.30")
    expect(page.locator(".model", has_text="targets may touch")).to_have_count(1)  # only the gapless cold start

    Job.objects.filter(pk=job.pk).update(progress=80, message="step 160")  # the worker moves on
    expect(row.locator("progress")).to_have_attribute("value", "80", timeout=10000)
    expect(row).to_contain_text("step 160")
    screenshot(page, "dashboard-models", full_page=True)
    assert not page.js_errors


def test_eraser_fill_undo_and_loupe(labeled, live_server, new_page):
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, labeled["image"])
    a = labeled["a"]
    raster = f"window.__irlabel.session.masks.get({a.pk}).raster"
    centre = to_screen(page, 20, 20)
    page.keyboard.press("e")  # eraser, 1 pixel: a hole in the 3x3 mask
    page.mouse.click(centre["px"], centre["py"])
    assert page.evaluate(f"() => Array.from({raster}.slice(19 * 80 + 19, 19 * 80 + 22))") == [1, 1, 1]
    assert page.evaluate(f"() => {raster}[20 * 80 + 20]") == 0
    page.keyboard.press("f")  # fill closes the hole
    page.mouse.click(centre["px"], centre["py"])
    assert page.evaluate(f"() => {raster}[20 * 80 + 20]") == 1
    page.keyboard.press("Control+z")
    assert page.evaluate(f"() => {raster}[20 * 80 + 20]") == 0
    outside = to_screen(page, 30, 30)  # a region open to the border is not a hole: nothing is filled
    page.mouse.click(outside["px"], outside["py"])
    expect(page.locator(".message")).to_contain_text("open to the image border")
    assert page.evaluate(f"() => {raster}.reduce((n, v) => n + v, 0)") == 8
    expect(page.locator("button[data-act=save]")).to_have_text("Save (1)")

    page.keyboard.press("l")  # the loupe shows the pixels under the cursor at 10x
    page.mouse.move(centre["px"] + 30, centre["py"] + 30)
    spot = to_screen(page, 20, 20)
    page.mouse.move(spot["px"], spot["py"])
    loupe = page.evaluate(
        """() => { const l = document.querySelector('canvas.loupe');
            const c = l.getContext('2d').getImageData(l.width / 2 + 5, l.height / 2 + 5, 1, 1).data;
            return {hidden: l.hidden, centre: Array.from(c)}; }"""
    )
    image_pixel = page.evaluate(
        "() => Array.from(window.__irlabel.stage.imageCanvas.getContext('2d').getImageData(20, 20, 1, 1).data)"
    )
    assert not loupe["hidden"] and loupe["centre"] == image_pixel


def test_drag_and_drop_upload_reports_each_file(labeled, live_server, new_page):

    from tests.factories import png_bytes

    project = labeled["project"]
    page = new_page()
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    drop_files(
        page,
        [("dropped.png", png_bytes(blobs_frame(seed=11)), "image/png"), ("notes.txt", b"not an image", "text/plain")],
    )
    expect(page.locator(".upload-item.ok .name")).to_have_text("dropped.png")
    expect(page.locator(".upload-item.failed .name")).to_have_text("notes.txt")
    expect(page.locator(".upload-item.failed .result")).to_contain_text("notes.txt")
    expect(page.locator(".bar-row[data-status=new] .n")).to_have_text("2")  # the dashboard counted it
    assert project.images.filter(original_name="dropped.png").count() == 1


def test_manager_changes_a_role_and_removes_a_member(labeled, live_server, new_page):
    from labeling.models import Membership

    vera = make_user("vera")
    membership = MembershipFactory(project=labeled["project"], user=vera, role=Role.VIEWER)
    page = new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".login-form .error")).to_have_text("Wrong user name or password.")
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{labeled['project'].pk}")
    row = page.locator(f".members tr[data-member='{membership.pk}']")
    row.locator("select[name=role]").select_option("annotator")
    expect(row.locator("select[name=role]")).to_have_value("annotator")
    page.wait_for_function(
        "id => document.querySelector(`.members tr[data-member='${id}'] select`)?.value === 'annotator'",
        arg=membership.pk,
    )
    for _ in range(50):
        membership.refresh_from_db()
        if membership.role == Role.ANNOTATOR:
            break
        page.wait_for_timeout(100)
    assert membership.role == Role.ANNOTATOR
    row.locator("button[data-act=remove-member]").click()
    expect(page.locator(f".members tr[data-member='{membership.pk}']")).to_have_count(0)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    expect(page.locator(".members tr", has_text="olga")).to_have_count(1)
    expect(page.locator(".members tr", has_text="olga").locator("select")).to_have_count(0)  # not your own role


def test_reviewer_rejects_a_submitted_image_with_a_comment(labeled, live_server, new_page):
    from labeling.choices import ImageStatus
    from labeling.models import AuditLog

    image = labeled["image"]
    image.status = ImageStatus.SUBMITTED
    image.save(update_fields=["status"])
    rex = make_user("rex")
    MembershipFactory(project=labeled["project"], user=rex, role=Role.REVIEWER)
    page = new_page()
    login(page, live_server.url, "rex")
    page.goto(f"{live_server.url}/#/p/{labeled['project'].pk}")
    page.click("a.button:has-text('Review queue')")
    expect(page.locator(".image-card")).to_have_count(1)
    page.click(".image-card a")
    page.wait_for_selector("canvas.stage[data-ready='1']")
    page.fill("textarea[name=comment]", "target 2 is two targets touching")
    page.click("button[data-act=reject-image]")
    expect(page.locator(".image-info [data-status]")).to_have_attribute("data-status", "rejected")
    image.refresh_from_db()
    assert image.status == ImageStatus.REJECTED
    entry = AuditLog.objects.filter(object_id=str(image.pk), action__endswith="reject").latest("id")
    assert entry.data["comment"] == "target 2 is two targets touching" and entry.actor == rex


def test_a_stale_point_move_reloads_the_servers_targets(labeled, live_server, new_page):
    from django.db.models import F

    from labeling.models import Target

    b = labeled["b"]
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, labeled["image"])
    Target.objects.filter(pk=b.pk).update(x=55.25, version=F("version") + 1)  # someone else moved it meanwhile
    start = to_screen(page, 60, 40)
    end = to_screen(page, 62, 41)
    page.mouse.move(start["px"], start["py"])
    page.mouse.down()
    page.mouse.move(end["px"], end["py"], steps=4)
    page.mouse.up()
    expect(page.locator(".message")).to_contain_text("reloaded with the current targets")
    expect(page.locator(f".target[data-target='{b.pk}'] .xy")).to_have_text("(55.25, 40.00)")
    b.refresh_from_db()
    assert (b.x, b.y) == (55.25, 40.0)  # the stale move changed nothing
    assert page.evaluate("() => window.__irlabel.session.history.done.length") == 0


def test_a_failed_generation_says_why(labeled, live_server, new_page, monkeypatch):
    """The click's job stays queued while the page polls (its message names a task no worker runs, so the session's
    worker, if another test started it, cannot finish it first); when the job fails, the page says why."""
    from dataclasses import replace

    from labeling.choices import JobKind, JobStatus
    from labeling.job_kinds import JOBS
    from labeling.models import Job, Target

    spec = replace(JOBS[JobKind.GENERATE], task="labeling.tasks.no_worker_runs_this")
    monkeypatch.setitem(JOBS, JobKind.GENERATE, spec)  # the live server runs in this process
    image = labeled["image"]
    page = new_page()
    login(page, live_server.url, "olga")
    _open(page, live_server.url, image)
    before = set(Job.objects.filter(image=image).values_list("pk", flat=True))
    spot = to_screen(page, 40, 10)
    page.mouse.click(spot["px"], spot["py"])
    expect(page.locator(".target")).to_have_count(3)
    deadline = time.monotonic() + 15
    while not (new := Job.objects.filter(image=image).exclude(pk__in=before).first()) and time.monotonic() < deadline:
        time.sleep(0.1)  # the page shows the point at once; the server saves it a moment later
    assert new is not None and Target.objects.filter(image=image).count() == 3
    message = "Mask generation is unavailable: the task queue cannot be reached."
    unfinished = Job.objects.filter(pk=new.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    assert unfinished.update(status=JobStatus.FAILED, message=message) == 1, "a worker ran the job: run without one"
    expect(page.locator(".message")).to_contain_text(message, timeout=15000)
