// The labeler's window/level controls: sliders on the frame's own scale, exact number entry, and a drag on the image.
import { maxValueOf, sliderScale } from "../display.js";

const SLIDER_TITLE = "Half the travel follows this frame's histogram (fine steps where most pixels are); type exact values";

export const WINDOW_CONTROLS = `
  <label>Min <input type="range" name="lo" min="0" step="1" title="${SLIDER_TITLE}"><input type="number" name="lo-value" step="any" title="Lowest value shown (black)"></label>
  <label>Max <input type="range" name="hi" min="0" step="1" title="${SLIDER_TITLE}"><input type="number" name="hi-value" step="any" title="Highest value shown (white)"></label>
  <div class="row window-level"><label>Level <input type="number" name="level" step="any" title="Centre of the window"></label>
  <label>Window <input type="number" name="width" min="1" step="any" title="Width of the window; right-drag on the image: sideways = window, up/down = level"></label></div>`;

const DRAG_PX = 100; // a drag this long widens the window e-fold, or moves the level by one window

/** Wire the window controls of `form` for `pixels`; `apply({lo, hi})` makes a manual window current (and calls
 * show()). Returns {show(lo, hi), drag(phase, dx, dy)}: drag is the stage's right-drag (phase start/move/end). */
export function windowLevel(form, pixels, apply) {
  const bitMax = maxValueOf(pixels.dtype);
  const scale = sliderScale(pixels.data, bitMax);
  const field = (name) => form.querySelector(`[name=${name}]`);
  let shown = { lo: 0, hi: 1 };
  let dragFrom = null;
  let holding = null; // the slider under the pointer: its thumb stays where the pointer put it
  for (const name of ["lo", "hi"]) field(name).max = String(scale.steps);

  function show(lo, hi) {
    shown = { lo, hi };
    const values = { lo, hi, "lo-value": lo, "hi-value": hi, level: (lo + hi) / 2, width: hi - lo };
    for (const [name, value] of Object.entries(values)) {
      if (name === holding) continue;
      field(name).value = name === "lo" || name === "hi" ? String(scale.toPosition(value)) : String(round3(value));
    }
  }

  /** A manual window within the data type's range; the end that was not moved gives way. */
  function set(lo, hi, moved) {
    lo = clamp(lo, 0, bitMax - 1);
    hi = clamp(hi, 1, bitMax);
    if (hi <= lo) {
      if (moved === "hi") lo = Math.max(0, hi - 1);
      else hi = Math.min(bitMax, lo + 1);
    }
    apply({ lo, hi });
  }

  form.addEventListener("input", (event) => {
    const { name } = event.target;
    if (name !== "lo" && name !== "hi") return;
    const value = scale.toValue(Number(event.target.value));
    holding = name;
    if (name === "lo") set(value, Math.max(shown.hi, value + 1), "lo");
    else set(Math.min(shown.lo, value - 1), value, "hi");
    holding = null;
  });

  form.addEventListener("change", (event) => {
    const { name } = event.target;
    if (!["lo-value", "hi-value", "level", "width"].includes(name)) return;
    const typed = Number(event.target.value);
    if (event.target.value.trim() === "" || !Number.isFinite(typed)) return show(shown.lo, shown.hi);
    if (name === "lo-value") set(typed, shown.hi, "lo");
    else if (name === "hi-value") set(shown.lo, typed, "hi");
    else {
      const level = name === "level" ? typed : (shown.lo + shown.hi) / 2;
      const width = clamp(name === "width" ? typed : shown.hi - shown.lo, 1, bitMax + 1);
      apply({ lo: level - width / 2, hi: level + width / 2 }); // exact, even half-way between two values
    }
  });

  function drag(phase, dx, dy) {
    if (phase === "start") dragFrom = { ...shown };
    if (phase !== "move" || !dragFrom) return;
    const width = Math.max(1, Math.round((dragFrom.hi - dragFrom.lo) * Math.exp(dx / DRAG_PX)));
    const level = (dragFrom.lo + dragFrom.hi) / 2 + (dy * (dragFrom.hi - dragFrom.lo)) / DRAG_PX;
    const lo = Math.round(level - width / 2);
    apply({ lo, hi: lo + width });
  }

  return { show, drag };
}

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

function round3(value) {
  return Math.round(value * 1000) / 1000;
}
