"""The active claim order in Chromium (issue 20, target-level active learning): a manager switches "Next image"
to least sure first (the setting is saved and a ranking job starts); once the frames are ranked, an annotator's
"Label next image" opens the least sure frame, and the labeler says why it was picked."""

import pytest
from playwright.sync_api import expect

from labeling.choices import JobKind, Role
from labeling.models import Image, Job, Project
from labeling.services.projects import project_settings
from labeling.services.ranking import image_rank
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory
from tests.labeling.frames import blob_frame
from tests.system.browser.conftest import login, logout, make_user, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(db):
    olga, anna = make_user("olga"), make_user("anna")
    project = ProjectFactory(name="Harbour")
    MembershipFactory(project=project, user=olga, role=Role.OWNER)
    MembershipFactory(project=project, user=anna, role=Role.ANNOTATOR)
    images = [
        ImageFactory(project=project, pixels=blob_frame(seed, size=64, n=3)[0], original_name=f"frame{seed}.png")
        for seed in (61, 62, 63)
    ]
    return {"project": project, "images": images}


def test_a_manager_turns_on_active_order_and_the_annotator_gets_the_least_sure_frame(team, live_server, new_page):
    project = team["project"]
    page = new_page()
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    page.select_option("select[name=claim-order]", "active")
    expect(page.locator(".job-list")).to_contain_text("rank")  # ranking starts with the switch
    assert project_settings(Project.objects.get(pk=project.pk))["claim"]["order"] == "active"
    assert not page.js_errors
    logout(page)

    assert Job.objects.filter(project=project, kind=JobKind.RANK).exists()
    for image in Image.objects.filter(project=project):  # what the job's batch worker does per frame (the worker
        image_rank(image=image)  # tests run it on one; here a session's worker may or may not be listening)
    scores = dict(Image.objects.filter(project=project).values_list("pk", "uncertainty"))
    least_sure = max(scores, key=lambda k: (scores[k], -k))

    page = new_page()
    login(page, live_server.url, "anna")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    expect(page.locator("select[name=claim-order]")).to_have_count(0)  # annotators do not choose the order
    page.click(".next-image")
    expect(page).to_have_url(f"{live_server.url}/#/i/{least_sure}")
    note = page.locator(".image-info .uncertainty-note")
    expect(note).to_contain_text(f"Uncertainty {scores[least_sure]:.2f}")
    expect(note).to_contain_text("cold start vs base weights")
    expect(page.locator("canvas.stage[data-ready='1']")).to_have_count(1)
    screenshot(page, "labeler-active-order")
    assert not page.js_errors
