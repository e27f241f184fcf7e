// Training curves as SVG: loss against step, and the selection-split IoU (0-1, right axis) when present.
import { escapeHtml } from "../dom.js";

export function curveChart(curve, width = 360, height = 160) {
  const losses = curve.filter((p) => (p.kind || "loss") === "loss" && p.loss != null);
  const evals = curve.filter((p) => p.kind === "selection" && p.iou != null);
  if (!losses.length && !evals.length) return '<p class="muted">No curve yet.</p>';
  const pad = 28;
  const steps = [...losses, ...evals].map((p) => p.step);
  const s0 = Math.min(...steps);
  const s1 = Math.max(...steps, s0 + 1);
  const lmax = Math.max(...losses.map((p) => p.loss), 1e-9);
  const x = (s) => pad + ((s - s0) / (s1 - s0)) * (width - 2 * pad);
  const yLoss = (v) => height - pad - (v / lmax) * (height - 2 * pad);
  const yIou = (v) => height - pad - v * (height - 2 * pad);
  const path = (points, y, key) => points.map((p, i) => `${i ? "L" : "M"}${x(p.step).toFixed(1)},${y(p[key]).toFixed(1)}`).join("");
  return `<svg class="curve" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="training curve">
    <rect x="${pad}" y="${pad}" width="${width - 2 * pad}" height="${height - 2 * pad}" class="frame"/>
    <path d="${path(losses, yLoss, "loss")}" class="loss"/>
    <path d="${path(evals, yIou, "iou")}" class="iou"/>
    ${evals.map((p) => `<circle cx="${x(p.step).toFixed(1)}" cy="${yIou(p.iou).toFixed(1)}" r="2.5" class="iou"/>`).join("")}
    <text x="${pad}" y="${pad - 8}" class="legend loss">loss (max ${escapeHtml(lmax.toPrecision(3))})</text>
    <text x="${width - pad}" y="${pad - 8}" text-anchor="end" class="legend iou">IoU (0–1)</text>
    <text x="${pad}" y="${height - 8}">step ${s0}</text><text x="${width - pad}" y="${height - 8}" text-anchor="end">${s1}</text></svg>`;
}
