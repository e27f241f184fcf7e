// The dashboard's annotator QA card (reviewers and above): each annotator's submissions scored against what the
// reviewers confirmed (pixel IoU, Pd, Fa, false targets, median time from claim to submit), on gold frames against
// their gold labels, and their IoU per day.
import { escapeHtml } from "../dom.js";

/** The card's markup; managers also get the double-annotation share (settings.qa.double_share). */
export function qaCard(project, manage) {
  const share = Math.round(100 * (project.settings?.qa?.double_share ?? 0));
  const control = manage
    ? `<label class="double-share" title="The share of frames two annotators label, blind">Labelled twice:
      <input type="number" name="double-share" min="0" max="100" step="1" value="${share}"> % of frames</label>`
    : "";
  return `<section class="card qa-card wide"><h3>Annotator quality</h3>
  <p class="muted hint">Each submission scored against the masks a reviewer confirmed (what the reviewer had to change), on gold frames against their gold labels, and on frames labelled twice against the other annotator's blind pass.</p>
  ${control}<p class="double-summary muted"></p><div class="qa-table"></div><div class="qa-chart"></div></section>`;
}

/** "IoU / Pd (frames)" of a figures object, or a dash. */
const figures = (f) => (f ? `${f.iou.toFixed(1)} / ${f.pd.toFixed(1)} (${f.frames})` : "–");

const COLOURS = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#90a4ae"];

function table(rows, waiting) {
  if (!rows.length) return `<p class="muted">No confirmed submissions yet${waiting ? ` (${waiting} waiting for review)` : ""}.</p>`;
  const body = rows
    .map(
      (r) => `<tr data-user="${escapeHtml(r.username ?? "")}"><td>${r.username ? escapeHtml(r.username) : '<span class="muted">deleted user</span>'}</td>
      <td class="num">${r.frames}</td><td class="num" data-col="iou">${r.iou.toFixed(1)}</td><td class="num" data-col="pd">${r.pd.toFixed(1)}</td>
      <td class="num">${r.fa.toFixed(1)}</td><td class="num">${r.false_targets}</td>
      <td class="num">${r.median_seconds == null ? "–" : `${Math.round(r.median_seconds)} s`}</td>
      <td class="num" data-col="gold">${figures(r.gold)}</td><td class="num" data-col="agreement">${figures(r.agreement)}</td></tr>`,
    )
    .join("");
  return `<table class="qa"><thead><tr><th>annotator</th><th title="frames scored">frames</th><th title="pixel IoU, %">IoU</th>
    <th title="targets found, %">Pd</th><th title="false-alarm pixels, 1e-6">Fa</th><th title="false targets">false</th>
    <th title="median time from claim to submit">time</th><th title="IoU / Pd on gold frames (frames)">gold</th>
    <th title="IoU / Pd of their blind passes against the other annotator's (frames labelled twice)">agreement</th></tr></thead><tbody>${body}</tbody></table>
    ${waiting ? `<p class="muted">${waiting} submissions wait for review.</p>` : ""}`;
}

/** IoU per day, one line per annotator (SVG). */
export function qaChart(series, width = 520, height = 170) {
  const days = [...new Set(series.flatMap((s) => s.days.map((d) => d.day)))].sort();
  if (days.length < 1) return "";
  const pad = 30;
  const x = (day) => pad + (days.length > 1 ? (days.indexOf(day) / (days.length - 1)) * (width - 2 * pad) : (width - 2 * pad) / 2);
  const y = (iou) => height - pad - (iou / 100) * (height - 2 * pad);
  const lines = series
    .map((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      const path = s.days.map((d, k) => `${k ? "L" : "M"}${x(d.day).toFixed(1)},${y(d.iou).toFixed(1)}`).join("");
      const dots = s.days.map((d) => `<circle cx="${x(d.day).toFixed(1)}" cy="${y(d.iou).toFixed(1)}" r="3" fill="${colour}"><title>${escapeHtml(s.username ?? "")} ${d.day}: IoU ${d.iou.toFixed(1)} on ${d.frames} frames</title></circle>`).join("");
      return `<path d="${path}" stroke="${colour}" fill="none" stroke-width="1.5"/>${dots}
        <text x="${width - pad}" y="${pad + 12 * i}" text-anchor="end" fill="${colour}" class="legend">${escapeHtml(s.username ?? "deleted user")}</text>`;
    })
    .join("");
  return `<svg class="qa-curve" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="IoU per day per annotator">
    <rect x="${pad}" y="${pad}" width="${width - 2 * pad}" height="${height - 2 * pad}" class="frame"/>${lines}
    <text x="${pad}" y="${pad - 8}" class="legend">IoU per day (0–100)</text>
    <text x="${pad}" y="${height - 8}">${days[0]}</text><text x="${width - pad}" y="${height - 8}" text-anchor="end">${days[days.length - 1]}</text></svg>`;
}

/** Fill the card from GET /projects/{id}/qa/. */
export function renderQa(root, qa) {
  const d = qa.double;
  root.querySelector(".double-summary").textContent = d.pairs || d.second_pass_waiting
    ? `Labelled twice: ${d.pairs} frame${d.pairs === 1 ? "" : "s"}, inter-annotator IoU ${d.iou == null ? "–" : d.iou.toFixed(1)}${d.second_pass_waiting ? `; ${d.second_pass_waiting} waiting for a second pass` : ""}.`
    : "";
  root.querySelector(".qa-table").innerHTML = table(qa.annotators, qa.waiting);
  root.querySelector(".qa-chart").innerHTML = qaChart(qa.series);
}
