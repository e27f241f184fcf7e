// Masks drawn over the image: one RGBA overlay at image resolution (fill or 1-pixel outline), coloured per target.
import { imageToScreen } from "../geometry.js";

const PALETTE = [
  [0, 230, 118],
  [41, 182, 246],
  [255, 64, 129],
  [255, 214, 0],
  [186, 104, 200],
  [255, 145, 0],
  [0, 229, 255],
  [174, 234, 0],
];

export function colourOf(targetId) {
  return PALETTE[Math.abs(targetId) % PALETTE.length];
}

export class MaskLayer {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.visible = true;
    this.mode = "outline"; // or "fill"
    this.opacity = 0.6;
    this.width = 0;
    this.height = 0;
  }

  resize(width, height) {
    this.width = width;
    this.height = height;
    this.canvas.width = width;
    this.canvas.height = height;
  }

  /** masks: iterable of {targetId, raster (row-major 0/1), bbox [x, y, w, h] or null}; the selected one is opaque. */
  rebuild(masks, selectedId) {
    const { width, height } = this;
    if (!width) return;
    const imageData = this.ctx.createImageData(width, height);
    const out = new Uint32Array(imageData.data.buffer);
    for (const mask of masks) {
      const [r, g, b] = colourOf(mask.targetId);
      const alpha = mask.targetId === selectedId ? 255 : 200;
      const colour = ((alpha << 24) | (b << 16) | (g << 8) | r) >>> 0;
      const [x0, y0, x1, y1] = boundsOf(mask, width, height);
      const raster = mask.raster;
      for (let y = y0; y < y1; y += 1) {
        for (let x = x0; x < x1; x += 1) {
          const i = y * width + x;
          if (!raster[i]) continue;
          if (this.mode === "fill" || isEdge(raster, x, y, width, height)) out[i] = colour;
        }
      }
    }
    this.ctx.putImageData(imageData, 0, 0);
  }

  /** A stage layer: the overlay scaled with the image, crisp. */
  draw(ctx, view, visible) {
    if (!this.visible || !this.width) return;
    const w = visible.x1 - visible.x0;
    const h = visible.y1 - visible.y0;
    if (w <= 0 || h <= 0) return;
    ctx.save();
    ctx.globalAlpha = this.opacity;
    ctx.imageSmoothingEnabled = false;
    const topLeft = imageToScreen(view, visible.x0 - 0.5, visible.y0 - 0.5);
    ctx.drawImage(this.canvas, visible.x0, visible.y0, w, h, topLeft.x, topLeft.y, w * view.scale, h * view.scale);
    ctx.restore();
  }
}

function boundsOf(mask, width, height) {
  if (!mask.bbox || mask.dirty) return [0, 0, width, height];
  const [x, y, w, h] = mask.bbox;
  return [Math.max(0, x), Math.max(0, y), Math.min(width, x + w), Math.min(height, y + h)];
}

function isEdge(raster, x, y, width, height) {
  if (x === 0 || y === 0 || x === width - 1 || y === height - 1) return true;
  const i = y * width + x;
  return !raster[i - 1] || !raster[i + 1] || !raster[i - width] || !raster[i + width];
}
