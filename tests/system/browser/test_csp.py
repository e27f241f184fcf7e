"""Content-Security-Policy in Chromium: every page is served with `script-src 'self'` (no inline script, no eval)
and works under it: no `securitypolicyviolation` event and no 'Refused to' console message on any page, and each
page shows what it should (the app's views, the sign-in and account pages, the admin, the API docs)."""

import re

import pytest
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from labeling.choices import Role
from labeling.services.users import account_link_token
from tests.factories import ImageFactory, MaskFactory, MembershipFactory, ProjectFactory, TargetFactory, UserFactory
from tests.system.browser.conftest import PASSWORD, blobs_frame, login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} in ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def world(db):
    owner = make_user("olga")
    owner.is_staff = owner.is_superuser = True
    owner.save()
    project = ProjectFactory(name="Harbour", description="night frames")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    MembershipFactory(project=project, user=make_user("anna"), role=Role.ANNOTATOR)
    image = ImageFactory(project=project, pixels=blobs_frame(), original_name="harbour16.png")
    MaskFactory(target=TargetFactory(image=image, x=20.0, y=20.0))
    MaskFactory(target=TargetFactory(image=image, x=60.0, y=40.0), warnings=["adhesion"])
    return {"owner": owner, "project": project, "image": image}


class CspWatch:
    """Every violation a page reports (its event, and Chromium's console line), across navigations."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(15000)
        self.context.add_init_script(LISTEN)
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console.append(text)

    def goto(self, url: str) -> None:
        response = self.page.goto(url)
        if response is None:  # a hash route inside the loaded app: the same document, its header checked already
            return
        policy = response.headers.get("content-security-policy", "")
        script_src = re.search(r"script-src ([^;]*)", policy)
        assert script_src, f"{url}: no script-src in {policy!r}"
        assert script_src.group(1).split() == ["'self'"], f"{url}: {policy}"
        assert "unsafe-eval" not in policy

    def check(self, where: str, expected: str | None = None) -> None:
        """No violation on this page; `expected` names the one blocked URL that is the policy at work."""
        self.page.wait_for_timeout(300)  # late violations (styles, workers) are reported asynchronously
        events = [e for e in self.page.evaluate("() => window.__csp || []") if not expected or expected not in e]
        console = [line for line in self.console if not expected or expected not in line]
        assert events == [], f"{where}: {events}"
        assert console == [], f"{where}: {console}"
        assert self.errors == [], f"{where}: {self.errors}"
        self.console.clear()


def test_no_csp_violation_on_any_page(world, live_server, browser):
    base = live_server.url
    project, image = world["project"], world["image"]
    watch = CspWatch(browser)
    page = watch.page
    try:
        watch.goto(f"{base}/accounts/login/")
        expect(page.locator("form.login-form")).to_be_visible()
        watch.check("login")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-user]")
        watch.check("projects (after sign-in)")

        for route, ready in [
            ("#/", f"text={project.name}"),
            (f"#/p/{project.pk}", ".bar-row[data-status=new]"),
            (f"#/p/{project.pk}/images", f"text={image.original_name}"),
            ("#/team", "text=anna"),
        ]:
            watch.goto(f"{base}/{route}")
            page.wait_for_selector(ready)
            watch.check(route)

        watch.goto(f"{base}/#/i/{image.pk}")
        page.wait_for_selector("canvas.stage[data-ready='1']")
        page.keyboard.press("?")
        page.wait_for_timeout(200)
        page.keyboard.press("Escape")
        watch.check("labeler")

        watch.goto(f"{base}/accounts/password/")
        expect(page.locator("input[name=new_password1]")).to_be_visible()
        watch.check("password change")

        for path, ready in [
            ("/admin/", "#site-name"),
            ("/admin/labeling/image/", "#result_list"),
            (f"/admin/labeling/image/{image.pk}/change/", "#content-main form"),
            (f"/admin/auth/user/{world['owner'].pk}/change/", "#content-main form"),
        ]:
            watch.goto(f"{base}{path}")
            page.wait_for_selector(ready)
            watch.check(path)

        watch.goto(f"{base}/api/v1/docs/")
        page.wait_for_selector(".opblock", timeout=30000)  # Swagger UI rendered the operations
        watch.check("swagger")
        watch.goto(f"{base}/api/v1/redoc/")
        page.wait_for_selector("text=IR small-target labeling API", timeout=30000)
        # Redoc always shows a "by Redocly" logo from its CDN: blocked (img-src 'self'), so reading the docs never
        # tells another origin; the image hides itself when it fails. Nothing else may be refused.
        watch.check("redoc", expected="https://cdn.redoc.ly/redoc/logo-mini.svg")
        watch.goto(f"{base}/api/v1/projects/")  # DRF's browsable API, as a browser asks for HTML
        expect(page.locator("body")).to_contain_text(project.name)
        watch.check("browsable api")
    finally:
        watch.context.close()


def test_no_csp_violation_on_the_account_setup_page(world, live_server, browser):
    invited = UserFactory(username="ines")
    invited.set_unusable_password()
    invited.save()
    uid = urlsafe_base64_encode(force_bytes(invited.pk))
    watch = CspWatch(browser)
    try:
        watch.goto(f"{live_server.url}/accounts/setup/{uid}/{account_link_token.make_token(invited)}/")
        expect(watch.page.locator("input[name=new_password1]")).to_be_visible()
        watch.check("account setup")
    finally:
        watch.context.close()


def test_login_page_after_the_limit_has_no_violation(world, live_server, browser, settings):
    settings.LOGIN_FAILURE_LIMIT = 1
    watch = CspWatch(browser)
    try:
        for _ in range(2):
            watch.goto(f"{live_server.url}/accounts/login/")
            watch.page.fill("input[name=username]", "olga")
            watch.page.fill("input[name=password]", "wrong")
            watch.page.click("button[type=submit]")
        expect(watch.page.locator("body")).to_contain_text("Too many")
        watch.check("throttled")
    finally:
        watch.context.close()


def test_the_app_shell_loads_no_inline_script(world, live_server, new_page):
    """Belt and braces: the shell's HTML itself has no inline script or handler for a policy to forgive."""
    page = new_page()
    login(page, live_server.url, "olga")
    html = page.content()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
