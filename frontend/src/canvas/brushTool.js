// Brush, eraser and fill on one target's mask, in whole pixels (a 1-pixel brush paints one pixel). A stroke goes to
// the target it touches, else to the nearest one within reach, else it is refused: never to a far-away selection.
import { brushPixels, linePixels, pixelAt } from "../geometry.js";
import { hitTarget } from "./pointTool.js";

export const REACH_PX = 24; // a stroke touching no mask goes to the nearest point within this many image pixels

/**
 * Which target a stroke starting at pixel (col, row) edits, or why none. Pure, so it is tested on its own.
 * targets: [{ref, x, y}]; masks: Map target id -> {raster, bbox}; footprint: the stroke's first pixels (indices).
 * Returns {target, how: "touches" | "nearest" | "selected"} or {refused: message}.
 */
export function strokeTarget({ targets, masks, width, height, footprint, col, row, mode, selectedId, reach = REACH_PX }) {
  const touching = [];
  for (const target of targets) {
    const mask = masks.get(target.ref.id);
    if (mask && touches(mask, footprint, width, height, mode)) touching.push(target);
  }
  const nearest = (list) => {
    let best = null;
    let bestDistance = Infinity;
    for (const t of list) {
      const d = Math.hypot(t.x - col, t.y - row);
      if (d < bestDistance) [best, bestDistance] = [t, d];
    }
    return { best, bestDistance };
  };
  if (touching.length) {
    const selected = touching.find((t) => t.ref.id === selectedId);
    return { target: selected || nearest(touching).best, how: "touches" };
  }
  if (mode === "eraser") return { refused: "Nothing to erase here: the eraser touches no mask." };
  const { best, bestDistance } = nearest(targets.filter((t) => t.ref.id));
  if (best && bestDistance <= reach) return { target: best, how: "nearest" };
  return {
    refused:
      `Not painted: this stroke touches no mask and no target is within ${reach} px. ` +
      "Place a point on the new target first (every mask belongs to a target).",
  };
}

/** A mask "touches" a stroke when a pixel of the stroke is in it or next to it (the eraser: in it; fill: in its box). */
function touches(mask, footprint, width, height, mode) {
  const { raster } = mask;
  for (const i of footprint) {
    if (raster[i]) return true;
    if (mode === "eraser") continue;
    const c = i % width;
    const r = (i - c) / width;
    if (mode === "fill" && mask.bbox) {
      const [x, y, w, h] = mask.bbox;
      if (c >= x && c < x + w && r >= y && r < y + h) return true;
    }
    for (let dr = -1; dr <= 1; dr += 1) {
      for (let dc = -1; dc <= 1; dc += 1) {
        const rr = r + dr;
        const cc = c + dc;
        if (rr >= 0 && cc >= 0 && rr < height && cc < width && raster[rr * width + cc]) return true;
      }
    }
  }
  return false;
}

export class BrushTool {
  /** mode: "brush" (paint 1), "eraser" (paint 0) or "fill" (flood the clicked region). */
  constructor(stage, session, options, onEdit) {
    this.stage = stage;
    this.session = session;
    this.options = options; // {brushSize}
    this.mode = "brush";
    this.onEdit = onEdit;
    this.stroke = null;
  }

  _footprint(start) {
    const { width, height } = this.stage;
    const size = this.mode === "fill" ? 1 : this.options.brushSize;
    return brushPixels(start.col, start.row, size)
      .filter(([c, r]) => c >= 0 && r >= 0 && c < width && r < height)
      .map(([c, r]) => r * width + c);
  }

  /** The stroke's target: a point under the cursor, else what strokeTarget says; tells the user when it is not the
   * selected one, or why nothing is painted. */
  _targetAt(pos, start) {
    const hit = hitTarget(this.session, this.stage.view, pos);
    if (hit && hit.ref.id) return hit.ref;
    const session = this.session;
    const selectedId = session.selected ? session.selected.id : null;
    const choice = strokeTarget({
      targets: session.targets,
      masks: session.masks,
      width: this.stage.width,
      height: this.stage.height,
      footprint: this._footprint(start),
      col: start.col,
      row: start.row,
      mode: this.mode,
      selectedId,
    });
    if (choice.refused) {
      session.say(choice.refused);
      return null;
    }
    const previous = selectedId != null && session.targetById(selectedId);
    if (previous && choice.target.ref.id !== selectedId) {
      const number = (t) => session.targets.indexOf(t) + 1;
      const why = choice.how === "touches" ? "the one this stroke touches" : "the nearest one";
      session.say(`Editing target ${number(choice.target)}, ${why} (target ${number(previous)} was selected).`);
    }
    return choice.target.ref;
  }

  down(pos) {
    if (!this.session.targets.some((t) => t.ref.id)) {
      this.session.say("Place a point first: every mask belongs to a target.");
      return;
    }
    const start = pixelAt(pos.x, pos.y);
    const ref = this._targetAt(pos, start);
    if (!ref) return; // refused: the message says why
    if (this.session.selected !== ref) {
      this.session.selected = ref;
      this.session.emit("targets"); // the panel shows which target this stroke edits
    }
    const value = this.mode === "eraser" ? 0 : 1;
    this.stroke = { ref, value, changes: new Map(), last: start };
    if (this.mode === "fill") {
      this.session.paint(ref, this._flood(ref, this.stroke.last), 1, this.stroke.changes);
    } else {
      this._dab([[this.stroke.last.col, this.stroke.last.row]]);
    }
    this.onEdit();
  }

  move(pos) {
    if (!this.stroke || this.mode === "fill") return;
    const here = pixelAt(pos.x, pos.y);
    this._dab(linePixels(this.stroke.last.col, this.stroke.last.row, here.col, here.row));
    this.stroke.last = here;
    this.onEdit();
  }

  up() {
    if (!this.stroke) return;
    this.session.recordPixels(this.stroke.ref, this.stroke.changes, this.stroke.value);
    this.stroke = null;
    this.onEdit();
  }

  _dab(centres) {
    const { width, height } = this.stage;
    const indices = [];
    for (const [col, row] of centres) {
      for (const [c, r] of brushPixels(col, row, this.options.brushSize)) {
        if (c >= 0 && r >= 0 && c < width && r < height) indices.push(r * width + c);
      }
    }
    this.session.paint(this.stroke.ref, indices, this.stroke.value, this.stroke.changes);
  }

  /** 4-connected region of unset pixels around the click, refused when it reaches the border (not a hole). */
  _flood(ref, start) {
    const { width, height } = this.stage;
    const mask = this.session.maskFor(ref);
    const seen = new Uint8Array(width * height);
    const out = [];
    const stack = [[start.col, start.row]];
    while (stack.length) {
      const [c, r] = stack.pop();
      if (c < 0 || r < 0 || c >= width || r >= height) {
        this.session.say("Fill stopped: that region is open to the image border (fill closes holes).");
        return [];
      }
      const i = r * width + c;
      if (seen[i] || mask.raster[i]) continue;
      seen[i] = 1;
      out.push(i);
      if (out.length > 100000) return [];
      stack.push([c + 1, r], [c - 1, r], [c, r + 1], [c, r - 1]);
    }
    return out;
  }
}
