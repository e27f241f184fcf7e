// Window/level on the full bit depth: percentiles, lookup tables (invert, false colour) and the RGBA render; pure.
const COLORMAPS = {
  gray: [
    [0, 0, 0, 0],
    [1, 255, 255, 255],
  ],
  inferno: [
    [0, 0, 0, 4],
    [0.25, 87, 16, 110],
    [0.5, 188, 55, 84],
    [0.75, 249, 142, 9],
    [1, 252, 255, 164],
  ],
  jet: [
    [0, 0, 0, 143],
    [0.125, 0, 0, 255],
    [0.375, 0, 255, 255],
    [0.625, 255, 255, 0],
    [0.875, 255, 0, 0],
    [1, 128, 0, 0],
  ],
};
export const COLORMAP_NAMES = Object.keys(COLORMAPS);

/** 256 packed RGBA (little-endian ABGR) entries for a colour map. */
function palette(name) {
  const stops = COLORMAPS[name] || COLORMAPS.gray;
  const out = new Uint32Array(256);
  for (let i = 0; i < 256; i += 1) {
    const t = i / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k += 1;
    const [t0, r0, g0, b0] = stops[k];
    const [t1, r1, g1, b1] = stops[k + 1];
    const f = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
    const r = Math.round(r0 + (r1 - r0) * f);
    const g = Math.round(g0 + (g1 - g0) * f);
    const b = Math.round(b0 + (b1 - b0) * f);
    out[i] = (255 << 24) | (b << 16) | (g << 8) | r;
  }
  return out;
}

/** One packed colour per possible raw value (256 or 65536 entries): values <= lo black, >= hi white. */
export function buildLut(maxValue, lo, hi, invert, colormap) {
  const colours = palette(colormap);
  const lut = new Uint32Array(maxValue + 1);
  const span = Math.max(1, hi - lo);
  for (let v = 0; v <= maxValue; v += 1) {
    let t = Math.round(((v - lo) / span) * 255);
    t = t < 0 ? 0 : t > 255 ? 255 : t;
    lut[v] = colours[invert ? 255 - t : t];
  }
  return lut;
}

/** Raw values at the lower and upper percentiles (a histogram pass: exact for integer data). */
export function percentiles(data, maxValue, low = 0.5, high = 99.5) {
  const histogram = new Uint32Array(maxValue + 1);
  for (let i = 0; i < data.length; i += 1) histogram[data[i]] += 1;
  const lowCount = (data.length * low) / 100;
  const highCount = (data.length * high) / 100;
  let seen = 0;
  let lo = 0;
  let hi = maxValue;
  let foundLow = false;
  for (let v = 0; v <= maxValue; v += 1) {
    seen += histogram[v];
    if (!foundLow && seen > lowCount) {
      lo = v;
      foundLow = true;
    }
    if (seen >= highCount) {
      hi = v;
      break;
    }
  }
  return { lo, hi: Math.max(hi, lo + 1) };
}

/** Map raw pixels through the LUT into a Uint32 view of ImageData. */
export function renderInto(out32, data, lut) {
  for (let i = 0; i < data.length; i += 1) out32[i] = lut[data[i]];
}

export function maxValueOf(dtype) {
  return dtype === "uint16" ? 65535 : 255;
}

/** A slider scale over the frame's own range, [min, max] of its values, on `steps` positions: half of the travel
 * follows the histogram (fine steps where most pixels are, e.g. the background a window edge sits on), half runs
 * evenly over the range (the sparse bright end stays reachable). A linear slider over the full 16-bit range moves
 * hundreds of grey levels per pixel. Returns {toValue(position), toPosition(value), steps, min, max}. */
export function sliderScale(data, maxValue, steps = 1000) {
  const histogram = new Uint32Array(maxValue + 1);
  let min = maxValue;
  let max = 0;
  for (let i = 0; i < data.length; i += 1) {
    const v = data[i];
    histogram[v] += 1;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (max <= min) max = Math.min(maxValue, min + 1);
  if (max <= min) min = max - 1;
  const values = new Float64Array(steps + 1); // the smallest value at or past each position
  const total = Math.max(1, data.length);
  let seen = 0;
  let k = 0;
  for (let v = min; v <= max && k <= steps; v += 1) {
    seen += histogram[v] || 0;
    const reached = 0.5 * (seen / total) + 0.5 * ((v - min) / (max - min));
    while (k <= steps && reached >= k / steps - 1e-9) values[k++] = v;
  }
  while (k <= steps) values[k++] = max;
  values[0] = min;
  return {
    steps,
    min,
    max,
    toValue: (position) => values[Math.min(steps, Math.max(0, Math.round(position)))],
    toPosition(value) {
      let low = 0;
      let high = steps;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (values[mid] < value) low = mid + 1;
        else high = mid;
      }
      return low;
    },
  };
}
