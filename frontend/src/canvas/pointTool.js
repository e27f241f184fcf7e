// Point tool: a click adds a target at the sub-pixel position, dragging a point moves it, dragging elsewhere
// pans, right-click deletes; points are drawn with their state (pending, warnings, selected).
import { distance, imageToScreen } from "../geometry.js";
import { colourOf } from "./maskLayer.js";

const HIT_PX = 9;
const CLICK_SLOP_PX = 4;

export function hitTarget(session, view, pos) {
  let best = null;
  let bestDistance = HIT_PX;
  for (const target of session.targets) {
    const s = imageToScreen(view, target.x, target.y);
    const d = distance(s, { x: pos.sx, y: pos.sy });
    if (d <= bestDistance) {
      best = target;
      bestDistance = d;
    }
  }
  return best;
}

/** The brightest pixel centre within `radius` pixels (snap to the local peak). */
export function localPeak(pixels, x, y, radius = 2) {
  const col = Math.round(x);
  const row = Math.round(y);
  let best = { x, y };
  let bestValue = -1;
  for (let r = row - radius; r <= row + radius; r += 1) {
    for (let c = col - radius; c <= col + radius; c += 1) {
      if (r < 0 || c < 0 || r >= pixels.height || c >= pixels.width) continue;
      const value = pixels.data[r * pixels.width + c];
      if (value > bestValue) {
        bestValue = value;
        best = { x: c, y: r };
      }
    }
  }
  return best;
}

export class PointTool {
  constructor(stage, session, options) {
    this.stage = stage;
    this.session = session;
    this.options = options; // {snap: bool, pixels, tightness}
    this.drag = null;
  }

  inside(pos) {
    const { width, height } = this.stage;
    return pos.x >= -0.5 && pos.y >= -0.5 && pos.x <= width - 0.5 && pos.y <= height - 0.5;
  }

  down(pos) {
    const hit = hitTarget(this.session, this.stage.view, pos);
    this.drag = { start: pos, last: pos, target: hit, from: hit ? { x: hit.x, y: hit.y } : null, moved: false };
    if (hit) {
      this.session.selected = hit.ref;
      this.session.emit("targets");
    }
  }

  move(pos) {
    const drag = this.drag;
    if (!drag) return;
    if (distance({ x: pos.sx, y: pos.sy }, { x: drag.start.sx, y: drag.start.sy }) > CLICK_SLOP_PX) drag.moved = true;
    if (!drag.moved) return;
    if (drag.target) {
      drag.target.x = Math.min(this.stage.width - 0.5, Math.max(-0.5, pos.x));
      drag.target.y = Math.min(this.stage.height - 0.5, Math.max(-0.5, pos.y));
      this.stage.requestDraw();
    } else {
      this.stage.panBy(pos.sx - drag.last.sx, pos.sy - drag.last.sy);
    }
    drag.last = pos;
  }

  up(pos) {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    if (drag.target && drag.moved) {
      this.session.move(drag.target.ref, drag.target.x, drag.target.y, drag.from);
    } else if (!drag.target && !drag.moved && this.inside(pos)) {
      const at = this.options.snap ? localPeak(this.options.pixels, pos.x, pos.y) : pos;
      this.session.add(round3(at.x), round3(at.y), this.options.tightness);
    }
  }

  context(pos) {
    const hit = hitTarget(this.session, this.stage.view, pos);
    if (hit) this.session.remove(hit.ref);
  }
}

function round3(v) {
  return Math.round(v * 1000) / 1000;
}

/** Stage layer drawing every target point. */
export function drawPoints(ctx, view, session) {
  ctx.save();
  ctx.font = "11px system-ui, sans-serif";
  session.targets.forEach((target, index) => {
    const s = imageToScreen(view, target.x, target.y);
    const mask = session.masks.get(target.ref.id);
    const warned = mask && mask.meta && mask.meta.warnings.length;
    const selected = session.selected === target.ref;
    const [r, g, b] = colourOf(target.ref.id || 0);
    ctx.lineWidth = selected ? 2.5 : 1.5;
    ctx.strokeStyle = warned ? "#ff9100" : `rgb(${r}, ${g}, ${b})`;
    ctx.setLineDash(target.pending ? [3, 3] : []);
    ctx.beginPath();
    ctx.arc(s.x, s.y, selected ? 7 : 5, 0, Math.PI * 2);
    ctx.moveTo(s.x - 2, s.y);
    ctx.lineTo(s.x + 2, s.y);
    ctx.moveTo(s.x, s.y - 2);
    ctx.lineTo(s.x, s.y + 2);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = warned ? "#ff9100" : "#ffffff";
    ctx.fillText(`${index + 1}${warned ? " !" : ""}`, s.x + 8, s.y - 8);
  });
  ctx.restore();
}
