// Why the active claim order picked a frame: its uncertainty score and the signs behind it (services.ranking).
import { escapeHtml } from "../dom.js";

const PARTS = {
  disagreement: "the two generators disagree",
  warnings: "points with a fallback or adhesion warning",
  unprompted: "blobs without a point",
  margin: "mask pixels near the threshold",
};

const pct = (v) => `${Math.round(100 * v)} %`;

/** A short note for the labeler's image panel; "" for a frame never ranked or already confirmed. */
export function uncertaintyNote(image) {
  if (image.uncertainty == null || image.status === "confirmed") return "";
  const detail = image.uncertainty_detail || {};
  const parts = Object.entries(detail.parts || {})
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `<li>${escapeHtml(PARTS[k] || k)}: ${pct(v)}</li>`)
    .join("");
  const on = detail.points === "detector" ? "detector candidates" : "its points";
  return `<div class="uncertainty-note" data-score="${image.uncertainty}"><p>Uncertainty <b>${image.uncertainty.toFixed(2)}</b>
    <span class="muted">(${escapeHtml(detail.compared || "")}, on ${detail.n_points ?? 0} ${on})</span></p>
    ${parts ? `<ul class="muted">${parts}</ul>` : ""}</div>`;
}

/** The dashboard's claim-order switch (managers): upload order, or the least sure frames first. */
export function claimOrderControl(project) {
  const order = project.settings?.claim?.order || "id";
  return `<label class="claim-order" title="Which frame 'Label next image' hands out">Next image:
    <select name="claim-order"><option value="id" ${order === "id" ? "selected" : ""}>upload order</option>
    <option value="active" ${order === "active" ? "selected" : ""}>least sure first (active)</option></select></label>`;
}
