// Thumbnails: the frame's PNG auto-contrasted and letterboxed into a square (a 16-bit frame otherwise looks flat).
import { buildLut, percentiles } from "../display.js";

const SIZE = 192;

/** Replace an <img> (once loaded) by a square canvas holding a contrast-stretched copy. */
export function stretchThumbnail(img) {
  const width = img.naturalWidth;
  const height = img.naturalHeight;
  const source = document.createElement("canvas");
  source.width = width;
  source.height = height;
  const sctx = source.getContext("2d");
  sctx.drawImage(img, 0, 0);
  const imageData = sctx.getImageData(0, 0, width, height);
  const rgba = new Uint32Array(imageData.data.buffer);
  const grey = new Uint8Array(rgba.length);
  for (let i = 0; i < rgba.length; i += 1) grey[i] = rgba[i] & 255;
  const { lo, hi } = percentiles(grey, 255, 0.5, 99.8);
  const lut = buildLut(255, lo, hi, false, "gray");
  for (let i = 0; i < grey.length; i += 1) rgba[i] = lut[grey[i]];
  sctx.putImageData(imageData, 0, 0);

  const canvas = document.createElement("canvas");
  canvas.width = SIZE;
  canvas.height = SIZE;
  canvas.className = "thumb";
  canvas.title = img.alt;
  const scale = SIZE / Math.max(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.imageSmoothingEnabled = scale < 1; // small frames stay crisp when enlarged
  ctx.drawImage(source, (SIZE - width * scale) / 2, (SIZE - height * scale) / 2, width * scale, height * scale);
  canvas.dataset.scale = String(scale);
  img.replaceWith(canvas);
}
