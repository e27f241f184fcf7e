"""The dashboard's "quality of the masks your team received" in Chromium: the shown-IoU curve, the promotion on it,
the figures and the loop's decisions, for a viewer."""

import pytest
from playwright.sync_api import expect

from labeling.choices import JobKind
from labeling.models import Job, Membership
from tests.labeling.frames import loop_project, stream_frame
from tests.system.browser.conftest import login, make_user, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_sees_the_shown_iou_curve_the_promotion_and_the_decisions(live_server, new_page, monkeypatch):
    from labeling.services import prequential
    from labeling.services.calibration import project_calibrate

    monkeypatch.setattr(prequential, "job_enqueue", lambda job: None)  # the loop runs in process here
    project, manager = loop_project(retrain={"calibrate_at": [5], "train_at": [100000]})
    for seed in range(5):
        stream_frame(project, manager, seed=seed, radius2=13)  # annotators who draw wide (halo-style) masks
    project_calibrate(job_id=Job.objects.get(project=project, kind=JobKind.CALIBRATE).pk)
    for seed in range(5, 12):
        stream_frame(project, manager, seed=seed, radius2=13)
    viewer = make_user("vera")
    Membership.objects.create(project=project, user=viewer, role="viewer")

    page = new_page()
    login(page, live_server.url, "vera")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    card = page.locator(".quality-card")
    expect(card.locator("svg.quality circle")).to_have_count(12)
    expect(card.locator("svg.quality line.promote")).to_have_count(1)
    expect(card.locator(".quality-summary")).to_contain_text("mean shown IoU over 12 frames")
    expect(card.locator(".quality-legend .key")).to_have_count(2)  # the default cold start, then the calibration
    expect(card.locator(".loop-events li.loop-promote")).to_contain_text("promoted at 10 confirmed frames")
    expect(card.locator(".loop-events li.loop-calibrate")).to_contain_text("calibrated: α")
    expect(card.locator(".loop-schedule")).to_contain_text("12 confirmed")
    # The frames after the promotion were shown better masks than the first ones.
    dots = card.locator("svg.quality circle")
    first, last = (float(dots.nth(i).get_attribute("cy")) for i in (0, 11))
    assert last < first  # higher on the chart: a higher IoU
    screenshot(page, "dashboard-quality", full_page=True)
    assert not page.js_errors
