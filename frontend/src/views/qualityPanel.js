// "Quality of the masks your team received": every confirmed frame's shown IoU in the order the frames were
// confirmed (test-then-train: scored before anything learned from it), coloured by the generator that served,
// with the loop's promotions and rollbacks marked, its figures, its recent decisions and what runs next.
import { escapeHtml } from "../dom.js";

const PALETTE = ["#9e9e9e", "#4fc3f7", "#81c784", "#ffb74d", "#ba68c8", "#f06292", "#4db6ac", "#e57373"];
const WINDOW = 10; // frames averaged by the trend line

function colours(frames) {
  const byKey = new Map();
  for (const f of frames) if (!byKey.has(f.key)) byKey.set(f.key, { colour: PALETTE[byKey.size % PALETTE.length], label: f.generator });
  return byKey;
}

export function qualityChart(quality, width = 900, height = 220) {
  const frames = quality.frames.filter((f) => f.iou != null);
  if (!frames.length) return '<p class="muted">No confirmed frame scored yet: the curve starts with the first confirmation.</p>';
  const pad = 30;
  const n = Math.max(...quality.frames.map((f) => f.frame), 2);
  const x = (frame) => pad + ((frame - 1) / (n - 1)) * (width - 2 * pad);
  const y = (iou) => height - pad - (iou / 100) * (height - 2 * pad);
  const keys = colours(quality.frames);
  const dots = frames
    .map((f) => `<circle cx="${x(f.frame).toFixed(1)}" cy="${y(f.iou).toFixed(1)}" r="2.6" fill="${keys.get(f.key).colour}"><title>frame ${f.frame}: ${f.iou.toFixed(1)} (${escapeHtml(f.generator)})</title></circle>`)
    .join("");
  const trend = frames
    .map((f, i) => {
      const recent = frames.slice(Math.max(0, i - WINDOW + 1), i + 1);
      const mean = recent.reduce((s, r) => s + r.iou, 0) / recent.length;
      return `${i ? "L" : "M"}${x(f.frame).toFixed(1)},${y(mean).toFixed(1)}`;
    })
    .join("");
  const marks = quality.events
    .filter((e) => e.action === "loop.promote" || e.action === "loop.rollback")
    .map((e) => {
      const at = x(Math.max(1, Math.min(n, e.frame + 0.5)));
      const cls = e.action === "loop.rollback" ? "rollback" : "promote";
      return `<line x1="${at.toFixed(1)}" x2="${at.toFixed(1)}" y1="${pad}" y2="${height - pad}" class="${cls}"><title>${escapeHtml(e.data.reason || e.action)}</title></line>`;
    })
    .join("");
  const grid = [25, 50, 75, 100].map((v) => `<line x1="${pad}" x2="${width - pad}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${pad - 4}" y="${y(v) + 3}" text-anchor="end">${v}</text>`).join("");
  const legend = [...keys.values()]
    // An SVG swatch: a fill attribute, not a style attribute (the Content-Security-Policy allows no inline style).
    .map((k) => `<span class="key"><svg viewBox="0 0 10 10" aria-hidden="true"><circle cx="5" cy="5" r="5" fill="${k.colour}"/></svg>${escapeHtml(k.label)}</span>`)
    .join("");
  return `<svg class="quality" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="shown IoU per confirmed frame">
    <rect x="${pad}" y="${pad}" width="${width - 2 * pad}" height="${height - 2 * pad}" class="frame"/>${grid}${marks}
    <path d="${trend}" class="trend"/>${dots}
    <text x="${pad}" y="${height - 10}">frame 1</text><text x="${width - pad}" y="${height - 10}" text-anchor="end">${n} confirmed</text>
    <text x="${pad}" y="${pad - 10}">shown IoU (%) · line: mean of the last ${WINDOW} frames · vertical: promotions</text></svg>
    <div class="quality-legend">${legend}</div>`;
}

function fmt(v) {
  return v == null ? "–" : Number(v).toFixed(1);
}

export function qualitySummary(summary) {
  if (!summary.frames) return "";
  return `<p class="quality-summary"><b>${fmt(summary.mean_shown_iou)}</b> mean shown IoU over ${summary.frames} frames ·
    after the first 20: <b>${fmt(summary.late_shown_iou)}</b> · last 20: ${fmt(summary.last_20_iou)} ·
    Pd ${fmt(summary.pd)} · Fat ${fmt(summary.fat)} · merged targets ${summary.merged ?? 0}</p>`;
}

const VERBS = {
  "loop.calibrate": (d) => `calibrated: α ${Number(d.alpha).toFixed(2)}, GrabCut ${d.use_grabcut ? "on" : "off"}, size rule ${d.size_rule ? "on" : "off"} (${d.n_images} frames)`,
  "loop.train": (d) => `fine-tuned on ${d.n_frames} frames (${d.steps} steps)`,
  "loop.candidate": () => "candidate in shadow",
  "loop.promote": (d) => d.reason || "promoted",
  "loop.rollback": (d) => d.reason || "rolled back",
  "loop.reject": (d) => d.reason || "rejected",
};

export function loopEvents(events) {
  if (!events.length) return '<p class="muted">The loop has decided nothing yet.</p>';
  return `<ul class="loop-events">${events
    .slice(0, 12)
    .map((e) => `<li class="${escapeHtml(e.action.replace(".", "-"))}"><span class="muted">frame ${e.frame}</span> ${e.data.number ? `<b>v${e.data.number}</b> ` : ""}${escapeHtml((VERBS[e.action] || (() => e.action))(e.data))}</li>`)
    .join("")}</ul>`;
}

export function loopSchedule(schedule) {
  const part = (name, s) => (s.active ? `${name} running` : `next ${name} at ${s.next_at} confirmed frames`);
  return `<p class="muted loop-schedule">${schedule.confirmed} confirmed · ${part("calibration", schedule.calibration)} · ${part("fine-tune", schedule.training)}</p>`;
}
