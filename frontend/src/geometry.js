// Screen <-> image coordinates and zoom/pan math; pure. Image (0, 0) is the centre of the top-left pixel.
export const MAX_SCALE = 32; // 3200%
export const GRID_SCALE = 12; // a pixel grid from 1200%

/** A view is {scale, ox, oy}: screen = o + (image + 0.5) * scale (CSS pixels). */
export function fitView(imageWidth, imageHeight, viewWidth, viewHeight) {
  const scale = Math.min(viewWidth / imageWidth, viewHeight / imageHeight) * 0.98;
  return centredView(imageWidth, imageHeight, viewWidth, viewHeight, scale);
}

export function centredView(imageWidth, imageHeight, viewWidth, viewHeight, scale) {
  return { scale, ox: (viewWidth - imageWidth * scale) / 2, oy: (viewHeight - imageHeight * scale) / 2 };
}

export function screenToImage(view, sx, sy) {
  return { x: (sx - view.ox) / view.scale - 0.5, y: (sy - view.oy) / view.scale - 0.5 };
}

export function imageToScreen(view, x, y) {
  return { x: view.ox + (x + 0.5) * view.scale, y: view.oy + (y + 0.5) * view.scale };
}

/** The pixel (column, row) that contains an image position. */
export function pixelAt(x, y) {
  return { col: Math.round(x), row: Math.round(y) };
}

export function clampScale(scale, minScale) {
  return Math.min(MAX_SCALE, Math.max(minScale, scale));
}

/** Zoom by `factor` keeping the image point under (sx, sy) fixed. */
export function zoomAt(view, sx, sy, factor, minScale) {
  const scale = clampScale(view.scale * factor, minScale);
  const k = scale / view.scale;
  return { scale, ox: sx - (sx - view.ox) * k, oy: sy - (sy - view.oy) * k };
}

/** Centre the view on image point (x, y) at `scale`. */
export function centreOn(viewWidth, viewHeight, x, y, scale) {
  return { scale, ox: viewWidth / 2 - (x + 0.5) * scale, oy: viewHeight / 2 - (y + 0.5) * scale };
}

export function pan(view, dx, dy) {
  return { scale: view.scale, ox: view.ox + dx, oy: view.oy + dy };
}

/** The pixel rectangle visible in a viewport, clipped to the image: {x0, y0, x1, y1} (exclusive ends). */
export function visiblePixels(view, viewWidth, viewHeight, imageWidth, imageHeight) {
  const x0 = Math.max(0, Math.floor(-view.ox / view.scale));
  const y0 = Math.max(0, Math.floor(-view.oy / view.scale));
  const x1 = Math.min(imageWidth, Math.ceil((viewWidth - view.ox) / view.scale));
  const y1 = Math.min(imageHeight, Math.ceil((viewHeight - view.oy) / view.scale));
  return { x0, y0, x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
}

export function distance(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/** Pixels covered by a square brush of `size` pixels centred on pixel (col, row). */
export function brushPixels(col, row, size) {
  const half = Math.floor((size - 1) / 2);
  const out = [];
  for (let dy = -half; dy < size - half; dy += 1) {
    for (let dx = -half; dx < size - half; dx += 1) out.push([col + dx, row + dy]);
  }
  return out;
}

/** Integer pixels along a segment (so a fast stroke leaves no gaps). */
export function linePixels(c0, r0, c1, r1) {
  const out = [];
  const steps = Math.max(Math.abs(c1 - c0), Math.abs(r1 - r0), 1);
  for (let i = 0; i <= steps; i += 1) {
    out.push([Math.round(c0 + ((c1 - c0) * i) / steps), Math.round(r0 + ((r1 - r0) * i) / steps)]);
  }
  return out;
}
