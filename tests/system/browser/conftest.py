"""Browser-test fixtures: Debian's Chromium through Playwright (never a downloaded browser) on the live server."""

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
PASSWORD = "a-long-test-password"


@pytest.fixture(scope="session")
def browser() -> Iterator:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15000)  # the CI machine is shared: allow for a slow moment, fail on a real hang

    # Playwright's sync API keeps an event loop on this thread; Django's ORM would refuse to run beside it,
    # although every call here is synchronous. Allowed only while the browser runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser):
    """new_page() -> a page in a fresh context (own cookies), 1280x800, failing the test on any JS error."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


def make_user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def login(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-user]")


def logout(page) -> None:
    page.click("header form button[type=submit]")
    page.wait_for_selector("form.login-form")


def blobs_frame(height: int = 64, width: int = 80, dtype=np.uint16, seed: int = 3) -> np.ndarray:
    """A frame with two Gaussian targets at (x, y) = (20, 20) and (60, 40) on a noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    top = 20000.0 if dtype == np.uint16 else 150.0
    base = 8000.0 if dtype == np.uint16 else 40.0
    frame = base + rng.normal(0, top / 500, (height, width))
    for cy, cx in ((20, 20), (40, 60)):
        frame += top * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.8**2))
    return np.clip(frame, 0, np.iinfo(dtype).max).astype(dtype)


def png_file(path: Path, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def drop_files(page, files: list[tuple[str, bytes, str]]) -> None:
    """Drop files (name, content, MIME type) on the dashboard's upload zone, as a drag from the desktop does."""
    import base64

    page.wait_for_selector(".upload .dropzone")
    page.evaluate(
        """(files) => {
            const dt = new DataTransfer();
            for (const [name, data, type] of files) {
                dt.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, {type}));
            }
            document.querySelector('.dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
        }""",
        [[name, base64.b64encode(data).decode(), mime] for name, data, mime in files],
    )


def canvas_pixel(page, sx: float, sy: float) -> list[int]:
    """The RGBA drawn on the labeling canvas at CSS pixel (sx, sy)."""
    return page.evaluate(
        """([sx, sy]) => {
            const canvas = document.querySelector('canvas.stage');
            const dpr = window.devicePixelRatio || 1;
            window.__irlabel.stage.draw();
            const ctx = canvas.getContext('2d');
            return Array.from(ctx.getImageData(Math.floor(sx * dpr), Math.floor(sy * dpr), 1, 1).data);
        }""",
        [sx, sy],
    )


def to_screen(page, x: float, y: float) -> dict:
    """Image coordinates -> page coordinates of the canvas."""
    return page.evaluate(
        """([x, y]) => {
            const {stage, imageToScreen} = window.__irlabel;
            const s = imageToScreen(stage.view, x, y);
            const rect = stage.canvas.getBoundingClientRect();
            return {x: s.x, y: s.y, px: rect.left + s.x, py: rect.top + s.y};
        }""",
        [x, y],
    )


def screenshot(page, name: str, full_page: bool = False) -> None:
    """Refresh docs/screenshots/<name>.png when UPDATE_SCREENSHOTS=1 (a plain test run leaves the tree clean)."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
