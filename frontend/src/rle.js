// COCO compressed RLE (pycocotools rleToString / rleFrString): column-major runs, zeros first, LEB128-like chars.

/** counts string -> run lengths (alternating zeros/ones, starting with zeros). */
export function countsFromString(text) {
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = text.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** run lengths -> counts string (delta-coded against the run two back, 5 bits per char). */
export function countsToString(counts) {
  let out = "";
  for (let i = 0; i < counts.length; i += 1) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/** {size: [h, w], counts} -> row-major Uint8Array of 0/1 (h * w). */
export function decodeRle(rle) {
  const [height, width] = rle.size;
  const raster = new Uint8Array(height * width);
  const counts = typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
  let index = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const run = counts[i];
    if (i % 2 === 1) {
      for (let j = index; j < index + run; j += 1) {
        const column = Math.floor(j / height);
        raster[(j - column * height) * width + column] = 1;
      }
    }
    index += run;
  }
  return raster;
}

/** row-major raster (h * w, non-zero = mask) -> {size: [h, w], counts}. */
export function encodeRle(raster, height, width) {
  const counts = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x += 1) {
    for (let y = 0; y < height; y += 1) {
      const value = raster[y * width + x] ? 1 : 0;
      if (value !== current) {
        counts.push(run);
        run = 0;
        current = value;
      }
      run += 1;
    }
  }
  counts.push(run);
  return { size: [height, width], counts: countsToString(counts) };
}

/** Pixel count of a raster. */
export function area(raster) {
  let n = 0;
  for (let i = 0; i < raster.length; i += 1) n += raster[i] ? 1 : 0;
  return n;
}
