// The frame as the stage draws it: raw pixels mapped through the current window/level, invert and colour map.
import { buildLut, maxValueOf, percentiles, renderInto } from "../display.js";

export class WindowedImage {
  constructor(pixels) {
    this.pixels = pixels;
    this.maxValue = maxValueOf(pixels.dtype);
    this.canvas = document.createElement("canvas");
    this.canvas.width = pixels.width;
    this.canvas.height = pixels.height;
    this.ctx = this.canvas.getContext("2d");
    this.imageData = this.ctx.createImageData(pixels.width, pixels.height);
    this.out32 = new Uint32Array(this.imageData.data.buffer);
  }

  /** The window for display settings: percentiles of this frame in auto mode, else the stored bounds. */
  windowFor(prefs) {
    if (prefs.mode === "auto") return percentiles(this.pixels.data, this.maxValue, prefs.pLow, prefs.pHigh);
    return { lo: prefs.lo, hi: prefs.hi };
  }

  render(lo, hi, invert, colormap) {
    renderInto(this.out32, this.pixels.data, buildLut(this.maxValue, lo, hi, invert, colormap));
    this.ctx.putImageData(this.imageData, 0, 0);
  }
}
