"""The pure JS modules (COCO RLE codec, geometry, window/level) evaluated in Chromium against server-made data."""

import numpy as np
import pytest

from labeling import storage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _module_page(new_page, live_server):
    page = new_page()
    page.goto(f"{live_server.url}/static/frontend/styles.css")  # same origin, no login needed for static modules
    return page


def test_rle_codec_matches_pycocotools(new_page, live_server):
    rng = np.random.default_rng(7)
    cases = []
    for height, width in ((1, 1), (5, 7), (64, 80), (37, 129)):
        raster = rng.random((height, width)) < 0.3
        raster[: height // 2, : width // 3] = True  # long runs exercise multi-character and negative deltas
        counts, area, _ = storage.mask_encode(raster)
        cases.append(
            {"size": [height, width], "counts": counts, "area": area, "flat": raster.ravel().astype(int).tolist()}
        )
    empty_counts, _, _ = storage.mask_encode(np.zeros((9, 4), bool))
    cases.append({"size": [9, 4], "counts": empty_counts, "area": 0, "flat": [0] * 36})
    page = _module_page(new_page, live_server)

    results = page.evaluate(
        """async (cases) => {
            const rle = await import('/static/frontend/src/rle.js');
            return cases.map((c) => {
                const raster = rle.decodeRle({size: c.size, counts: c.counts});
                const back = rle.encodeRle(raster, c.size[0], c.size[1]);
                return {flat: Array.from(raster), counts: back.counts, area: rle.area(raster)};
            });
        }""",
        cases,
    )

    for case, result in zip(cases, results, strict=True):
        assert result["flat"] == case["flat"]  # decoded row-major exactly as numpy holds it
        assert result["counts"] == case["counts"]  # and encoded back to the very string pycocotools made
        assert result["area"] == case["area"]
    # The server accepts what the browser encodes: decode a browser-made string with the server codec.
    raster = rng.random((33, 21)) < 0.5
    browser_counts = page.evaluate(
        """async ([flat, h, w]) => (await import('/static/frontend/src/rle.js')).encodeRle(flat, h, w).counts""",
        [raster.ravel().astype(int).tolist(), 33, 21],
    )
    assert np.array_equal(storage.mask_decode(browser_counts, 33, 21), raster)


def test_geometry_and_window_level(new_page, live_server):
    page = _module_page(new_page, live_server)
    out = page.evaluate(
        """async () => {
            const g = await import('/static/frontend/src/geometry.js');
            const d = await import('/static/frontend/src/display.js');
            const view = {scale: 10, ox: 5, oy: 7};
            const corner = g.imageToScreen(view, -0.5, -0.5);        // top-left edge of pixel (0, 0)
            const centre = g.imageToScreen(view, 0, 0);              // its centre
            const back = g.screenToImage(view, 123.4, 56.7);
            const again = g.imageToScreen(view, back.x, back.y);
            const zoomed = g.zoomAt(view, 100, 100, 1e6, 0.1);       // clamped at 3200%
            const fixed = g.screenToImage(zoomed, 100, 100);
            const before = g.screenToImage(view, 100, 100);
            const data = new Uint16Array(1000);
            for (let i = 0; i < 1000; i++) data[i] = 1000 + i * 10;  // 1000 .. 10990
            const p = d.percentiles(data, 65535, 1, 99);
            const lut = d.buildLut(65535, 2000, 4000, false, 'gray');
            const inv = d.buildLut(65535, 2000, 4000, true, 'gray');
            return {corner, centre, again, scale: zoomed.scale, fixed, before, p,
                    lo: lut[1999] & 255, mid: lut[3000] & 255, hi: lut[4001] & 255, invLo: inv[1999] & 255,
                    brush1: g.brushPixels(4, 5, 1), brush3: g.brushPixels(4, 5, 3).length,
                    line: g.linePixels(0, 0, 3, 1)};
        }"""
    )
    assert out["corner"] == {"x": 5, "y": 7} and out["centre"] == {"x": 10, "y": 12}
    assert out["again"]["x"] == pytest.approx(123.4) and out["again"]["y"] == pytest.approx(56.7)
    assert out["scale"] == 32
    assert out["fixed"]["x"] == pytest.approx(out["before"]["x"]) and out["fixed"]["y"] == pytest.approx(
        out["before"]["y"]
    )
    assert out["p"] == {"lo": 1100, "hi": 10890}
    assert (out["lo"], out["mid"], out["hi"], out["invLo"]) == (0, 128, 255, 255)
    assert out["brush1"] == [[4, 5]] and out["brush3"] == 9
    assert out["line"] == [[0, 0], [1, 0], [2, 1], [3, 1]]


def test_snap_to_local_peak_and_undo_history(new_page, live_server):
    page = _module_page(new_page, live_server)
    out = page.evaluate(
        """async () => {
            const {localPeak} = await import('/static/frontend/src/canvas/pointTool.js');
            const {History} = await import('/static/frontend/src/history.js');
            const data = new Uint16Array(10 * 8);
            data[3 * 10 + 6] = 900;                      // the peak at column 6, row 3
            data[3 * 10 + 5] = 500;
            const pixels = {width: 10, height: 8, data};
            const near = localPeak(pixels, 4.6, 2.2);     // within 2 pixels: snaps to the peak's centre
            const far = localPeak(pixels, 0.4, 7.3, 2);   // nothing brighter nearby: the first of equal zeros
            const log = [];
            const h = new History();
            h.push({undo: () => log.push('-a'), redo: () => log.push('+a')});
            h.push({undo: () => log.push('-b'), redo: () => log.push('+b')});
            h.undo(); h.undo(); h.undo(); h.redo();
            h.push({undo: () => log.push('-c'), redo: () => log.push('+c')});
            const redoAfterPush = h.redo();
            return {near, far, log, redoAfterPush, done: h.done.length};
        }"""
    )
    assert out["near"] == {"x": 6, "y": 3}
    assert out["far"] == {"x": 0, "y": 5}
    assert out["log"] == ["-b", "-a", "+a"] and out["redoAfterPush"] is False and out["done"] == 2


def test_the_window_slider_scale_follows_the_frame(new_page, live_server):
    """Half of the slider's travel follows the histogram: a background of ten grey levels gets about half the
    positions (a linear slider over 8000..30000 gives it less than one), and the ends are the frame's min and max."""
    page = _module_page(new_page, live_server)
    out = page.evaluate(
        """async () => {
            const d = await import('/static/frontend/src/display.js');
            const data = new Uint16Array(1000);
            for (let i = 0; i < 990; i++) data[i] = 8000 + (i % 11);    // background 8000 .. 8010
            for (let i = 990; i < 1000; i++) data[i] = 30000;           // one bright target
            const s = d.sliderScale(data, 65535, 1000);
            const values = Array.from({length: 1001}, (_, k) => s.toValue(k));
            const monotonic = values.every((v, k) => k === 0 || v >= values[k - 1]);
            const roundTrip = values.every((v, k) => s.toPosition(v) <= k && s.toValue(s.toPosition(v)) === v);
            return {first: values[0], last: values[1000], monotonic, roundTrip,
                    background: s.toPosition(8010) - s.toPosition(8000), beyond: s.toPosition(65535)};
        }"""
    )
    assert (out["first"], out["last"]) == (8000, 30000)
    assert out["monotonic"] and out["roundTrip"]
    assert out["background"] > 400
    assert out["beyond"] == 1000
