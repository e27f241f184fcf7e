// Brush, eraser and fill on the selected target's mask, in whole pixels (a 1-pixel brush paints one pixel).
import { brushPixels, linePixels, pixelAt } from "../geometry.js";
import { hitTarget } from "./pointTool.js";

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

  _targetAt(pos) {
    const hit = hitTarget(this.session, this.stage.view, pos);
    if (hit) return hit.ref;
    if (this.session.selected && this.session.targetById(this.session.selected.id)) return this.session.selected;
    const { col, row } = pixelAt(pos.x, pos.y);
    const i = row * this.stage.width + col;
    for (const mask of this.session.masks.values()) {
      if (mask.raster[i]) return this.session.targetById(mask.targetId)?.ref || null;
    }
    return null;
  }

  down(pos) {
    const ref = this._targetAt(pos);
    if (!ref || !ref.id) {
      this.session.say("Place a point first: every mask belongs to a target.");
      return;
    }
    this.session.selected = ref;
    const value = this.mode === "eraser" ? 0 : 1;
    this.stroke = { ref, value, changes: new Map(), last: pixelAt(pos.x, pos.y) };
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
