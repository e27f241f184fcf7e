"""The team view (issue 18, item 6) in Chromium: a manager reaches it from the project's dashboard, invites
someone (who sets their own password through the one-time link and is in), sees everyone with their role, resets
a password and deactivates/reactivates, and cannot touch the owner or grant the owner role."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from labeling.choices import Role
from labeling.models import Membership
from tests.factories import MembershipFactory, ProjectFactory
from tests.system.browser.conftest import PASSWORD, login, make_user, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
User = get_user_model()


@pytest.fixture
def harbour(db):
    """Project Harbour: owner olga, manager mona, annotator anna."""
    project = ProjectFactory(name="Harbour")
    people = {name: make_user(name) for name in ("olga", "mona", "anna")}
    for name, role in (("olga", Role.OWNER), ("mona", Role.MANAGER), ("anna", Role.ANNOTATOR)):
        MembershipFactory(project=project, user=people[name], role=role)
    return {"project": project, **people}


def _row(page, username):
    return page.locator(f"tr.person[data-username='{username}']")


def test_manager_invites_lists_resets_and_deactivates(harbour, live_server, new_page):
    project = harbour["project"]
    page = new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live_server.url, "mona")
    page.goto(f"{live_server.url}/#/p/{project.pk}")
    page.click("a.team-link")
    expect(page.locator(".team-view h2")).to_have_text("Team")
    expect(_row(page, "anna").locator("select[name=role]")).to_have_value("annotator")
    expect(_row(page, "olga").locator(".member-role")).to_have_text("owner")  # not editable by a manager
    expect(_row(page, "olga").locator("button")).to_have_count(0)
    options = page.locator(".invite-form select[name=role] option").all_text_contents()
    assert options == ["viewer", "annotator", "reviewer", "manager"]  # a manager cannot make an owner

    page.fill(".invite-form input[name=username]", "newbie")
    page.fill(".invite-form input[name=email]", "newbie@example.org")
    page.select_option(".invite-form select[name=role]", "reviewer")
    page.click(".invite-form button[type=submit]")
    link = page.locator(".one-time-link")
    expect(link).to_be_visible()
    url = link.input_value()
    assert url.startswith(f"{live_server.url}/accounts/setup/")
    expect(_row(page, "newbie").locator(".person-status")).to_have_text("invited (no password yet)")
    expect(_row(page, "newbie").locator("select[name=role]")).to_have_value("reviewer")
    screenshot(page, "team")

    newcomer = new_page()  # the invited person, in their own browser
    newcomer.goto(url)
    expect(newcomer.locator(".account-name")).to_have_text("newbie")
    newcomer.fill("input[name=new_password1]", "newbies-own-pass")
    newcomer.fill("input[name=new_password2]", "newbies-own-pass")
    newcomer.click("button[type=submit]")
    newcomer.wait_for_selector("body[data-user='newbie']")
    expect(newcomer.locator(f".card[data-project='{project.pk}']")).to_be_visible()
    again = new_page()
    again.goto(url)
    expect(again.locator("h1")).to_have_text("This link does not work")  # one time only

    page.reload()
    expect(_row(page, "newbie").locator(".person-status")).to_have_text("active")
    _row(page, "anna").locator("select[name=role]").select_option("reviewer")
    expect(page.locator(".team-notice")).to_have_text("anna is now reviewer in Harbour.")
    expect(_row(page, "anna").locator("select[name=role]")).to_have_value("reviewer")
    assert Membership.objects.get(project=project, user=harbour["anna"]).role == Role.REVIEWER

    _row(page, "anna").locator("button[data-act=reset]").click()
    expect(page.locator(".link-card")).to_contain_text("anna's old password no longer works.")
    assert not User.objects.get(username="anna").check_password(PASSWORD)

    _row(page, "newbie").locator("button[data-act=deactivate]").click()
    expect(page.locator(".team-notice")).to_have_text("newbie is deactivated.")
    expect(_row(page, "newbie").locator(".person-status")).to_have_text("deactivated")
    newcomer.reload()
    newcomer.wait_for_selector("form.login-form")  # signed out by the deactivation
    assert not User.objects.get(username="newbie").is_active
    _row(page, "newbie").locator("button[data-act=reactivate]").click()
    expect(_row(page, "newbie").locator(".person-status")).to_have_text("active")
    assert User.objects.get(username="newbie").is_active
    assert not page.js_errors and not newcomer.js_errors


def test_invite_of_an_existing_name_offers_to_add_them(harbour, live_server, new_page):
    outsider = make_user("oscar")
    page = new_page()
    login(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/#/team")
    page.fill(".invite-form input[name=username]", "oscar")
    page.select_option(".invite-form select[name=role]", "owner")  # an owner may grant owner
    page.click(".invite-form button[type=submit]")
    expect(page.locator(".invite-error")).to_contain_text("already exists")
    page.click("button[data-act=add-existing]")
    expect(_row(page, "oscar").locator("select[name=role]")).to_have_value("owner")
    assert Membership.objects.get(project=harbour["project"], user=outsider).role == Role.OWNER
    assert not page.js_errors
