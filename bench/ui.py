"""Browser speed of the labeling app in Debian's Chromium (Playwright) on the real stack.

Usage: python bench/ui.py [--clicks 30] [--sizes 512 1024] [--next-images 6]
gunicorn + PostgreSQL + Redis + one Celery worker (the `interactive` queue), as bench/interactive.py runs them.
Reports, per frame size: click on the canvas -> the new masks drawn (p50/p95, measured in the page from the
click handler to the end of the synchronous redraw), opening the next image (key N -> the new frame drawn and
its targets loaded, after submitting the current one), and frame time while panning at 3200% (draw cost per
frame and the frame rate reached). Prints one JSON line and writes bench/reports/ui.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.interactive import (  # noqa: E402 - after the path tweak
    Stack,
    _free_port,
    _percentile,
    _png,
    stack_env,
    synthetic_frame,
)
from tests.system.browser.conftest import CHROMIUM_ARGS  # noqa: E402

PASSWORD = "bench-password"


def _stats(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(_percentile(values, 95), 1),
        "max_ms": round(max(values), 1),
    }


def _setup(sizes: list[int], next_images: int) -> dict:
    """A user and one project per size holding `next_images + 1` frames of that size."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from labeling.services.images import image_create
    from labeling.services.projects import project_create

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user("bench", password=PASSWORD)
    projects = {}
    for size in sizes:
        project = project_create(name=f"ui-{size}", actor=user)
        for k in range(next_images + 1):
            frame = synthetic_frame(size, seed=size * 100 + k)
            image_create(project=project, file_name=f"frame_{size}_{k}.png", data=_png(frame), actor=user)
        projects[size] = project.pk
    return projects


def _open_next(page, base: str, project_id: int) -> None:
    page.goto(f"{base}/#/p/{project_id}/images")
    page.click("button.next-image")
    page.wait_for_selector("canvas.stage[data-ready='1']")


def _clicks(page, clicks: int, seed: int) -> list[list[float]]:
    """Click at random free spots; each time wait for the masks and read the page's click-to-drawn time."""
    rng = np.random.default_rng(seed)
    times = []
    for k in range(clicks + 3):
        applied = page.evaluate("() => window.__irlabel.session.masksApplied")
        spot = page.evaluate(
            """([fx, fy]) => { const {stage, imageToScreen, pixels} = window.__irlabel;
                const s = imageToScreen(stage.view, fx * (pixels.width - 40) + 20, fy * (pixels.height - 40) + 20);
                const r = stage.canvas.getBoundingClientRect(); return {x: r.left + s.x, y: r.top + s.y}; }""",
            [float(rng.random()), float(rng.random())],
        )
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_function(
            "n => window.__irlabel.session.masksApplied > n && window.__irlabel.session.pending === 0",
            arg=applied,
            timeout=30000,
            polling=100,  # not every frame: a busy renderer would steal the CPU the worker needs
        )
        if k >= 3:  # warm-up clicks are not counted
            session = "window.__irlabel.session"
            times.append(page.evaluate(f"() => [{session}.lastMaskMs, {session}.lastRequestMs]"))
    return times


def _next_image_times(page, count: int) -> list[float]:
    """Submit the current frame, then time key N until the next frame is drawn with its targets loaded."""
    times = []
    for _ in range(count):
        page.click("button[data-act=submit]")
        page.wait_for_selector(".image-info [data-status=submitted]")
        current = page.evaluate("() => window.__irlabel.image.id")
        page.evaluate("() => { window.__nextStart = performance.now(); }")
        page.keyboard.press("n")
        page.wait_for_function(
            "id => window.__irlabel && window.__irlabel.image.id !== id"
            " && document.querySelector('canvas.stage').dataset.ready === '1'",
            arg=current,
        )
        times.append(page.evaluate("() => window.__irlabel.readyAt - window.__nextStart"))
    return times


def _pan(page, frames: int = 180) -> dict:
    """Pan by a few pixels every animation frame at 3200%; the draw cost and the frame intervals."""
    return page.evaluate(
        """(frames) => new Promise((resolve) => {
            const {stage, pixels} = window.__irlabel;
            const s = 32;
            const ox = stage.cssWidth / 2 - (pixels.width / 2) * s;
            stage.setView({scale: s, ox, oy: stage.cssHeight / 2 - (pixels.height / 2) * s});
            stage.frameTimes.length = 0;
            const stamps = [];
            let k = 0;
            const step = (t) => {
                stamps.push(t);
                const dx = (k % 120 < 60 ? 1 : -1) * 7, dy = (k % 90 < 45 ? 1 : -1) * 5;
                stage.panBy(dx, dy);
                k += 1;
                if (k < frames) requestAnimationFrame(step);
                else requestAnimationFrame(() => resolve({draws: stage.frameTimes.slice(), stamps}));
            };
            requestAnimationFrame(step);
        })""",
        frames,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--next-images", type=int, default=6)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_ui")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "ui.md"))
    args = parser.parse_args()
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Debian's chromium is needed (apt-get install chromium); no browser is downloaded")

    env, work = stack_env(args.database_url, args.broker_url, "bench-ui-")
    projects = _setup(args.sizes, args.next_images)
    stack = Stack(env, _free_port(), work)
    stack.start()
    base = f"http://127.0.0.1:{stack.port}"
    results: dict = {}
    load_start = os.getloadavg()[0]
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30000)
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-user]")
            for size in args.sizes:
                _open_next(page, base, projects[size])
                timed = _clicks(page, args.clicks, seed=size)
                clicks = [total for total, _ in timed]
                requests = [request for _, request in timed]
                pan = _pan(page)
                intervals = np.diff(pan["stamps"][5:]).tolist()
                nexts = _next_image_times(page, args.next_images)
                results[str(size)] = {
                    "click_to_drawn": _stats(clicks),
                    "click_request": _stats(requests),
                    "next_image": _stats(nexts),
                    "pan_draw": _stats(pan["draws"][5:]),
                    "pan_fps": round(1000 / statistics.median(intervals), 1),
                }
            browser.close()
    finally:
        stack.stop()
    line = {
        "bench": "ui",
        "cpu_cores": os.cpu_count(),
        "load_avg_1m": [round(load_start, 1), round(os.getloadavg()[0], 1)],  # other work on the machine skews it
        "chromium": _chromium_version(executable),
        "results": results,
    }
    print(json.dumps(line))
    _report(Path(args.report), args, line)


def _chromium_version(executable: str) -> str:
    try:
        return subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _report(path: Path, args: argparse.Namespace, line: dict) -> None:
    rows = [
        "| frame | click→drawn p50 / p95 ms | of which the request p50 / p95 ms | next image p50 / p95 ms "
        "| pan draw p50 / p95 ms | pan fps |",
        "|---|---|---|---|---|---|",
    ]
    for size, cell in line["results"].items():
        c, r, n, d = cell["click_to_drawn"], cell["click_request"], cell["next_image"], cell["pan_draw"]
        rows.append(
            f"| {size}² 16-bit | {c['p50_ms']} / {c['p95_ms']} | {r['p50_ms']} / {r['p95_ms']} | "
            f"{n['p50_ms']} / {n['p95_ms']} | "
            f"{d['p50_ms']} / {d['p95_ms']} | {cell['pan_fps']} |"
        )
    path.write_text(
        "# Labeling app speed in Chromium (real stack, CPU)\n\n"
        "Command: `python bench/ui.py` — headless Debian Chromium via Playwright against gunicorn (2 workers) + "
        "PostgreSQL + Redis + one Celery worker on the `interactive` queue (cold-start generator, one torch "
        f"thread). {args.clicks} clicks per size after 3 warm-up clicks at fit zoom; click→drawn is measured in "
        "the page from the click handler to the end of the synchronous redraw with the new masks. Next image: "
        "key N (claim) until the next frame is windowed, drawn and its targets loaded. Pan: one pan step per "
        "animation frame at 3200%.\n\n" + "\n".join(rows) + "\n\n"
        "Goals: click→drawn p95 ≤ 200 ms, next image ≤ 300 ms, panning ≥ 50 fps. The request column is the "
        "POST/PATCH that answers with the new masks (server, worker and generation of every target on the frame; "
        f"the clicks accumulate, so the last click regenerates {args.clicks + 3} targets); the rest is decoding the "
        "RLE masks, rebuilding the overlay and redrawing. Headless Chromium paces animation frames at 60 Hz, so "
        f"59.9 fps is the ceiling. Load average (1 min) at start / end: {line['load_avg_1m']} on "
        f"{line['cpu_cores']} cores.\n\n"
        f"Raw: `{json.dumps(line)}`\n"
    )


if __name__ == "__main__":
    main()
