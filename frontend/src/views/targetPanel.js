// The labeler's side panel of targets (state, area, warnings, accept/reject, tightness) and the warning list.
import { $, escapeHtml } from "../dom.js";

/** Wire the panel; returns render(), to call whenever targets or masks change. `canReview` may be a function (the
 * separate-reviewer rule depends on the image's current annotator). */
export function targetPanel(root, session, { canReview, canAnnotate, defaultAlpha, onSelect, onJump, decide }) {
  const list = $(root, ".target-list");
  const warningList = $(root, ".warning-list");

  function row(t, index) {
    const mask = session.masks.get(t.ref.id);
    const meta = mask && mask.meta;
    const warnings = meta ? meta.warnings : [];
    const state = mask && mask.dirty ? "edited (unsaved)" : meta ? meta.state : t.pending ? "…" : "no mask";
    const selected = session.selected === t.ref ? " selected" : "";
    const count = area(mask);
    const review = (typeof canReview === "function" ? canReview() : canReview) && meta ? '<button data-act="accept" title="Accept (Y)">✓</button><button data-act="reject" title="Reject (X)">✗</button>' : "";
    const tightness = canAnnotate
      ? `<label class="tight" title="Tightness: the generator's alpha for this target (higher = tighter mask)">tightness
         <input type="range" min="0.05" max="0.95" step="0.05" value="${t.tightness ?? defaultAlpha}"></label>`
      : "";
    return `<li class="target${selected}" data-target="${t.ref.id}" data-index="${index}">
      <span class="idx">${index + 1}</span> <span class="xy">(${t.x.toFixed(2)}, ${t.y.toFixed(2)})</span>
      <span class="state state-${escapeHtml(state.split(" ")[0])}">${escapeHtml(state)}</span>
      ${count != null ? `<span class="area">${count} px</span>` : ""}
      ${warnings.map((w) => `<span class="badge warn warn-${escapeHtml(w)}">${escapeHtml(w)}</span>`).join("")}${review}${tightness}
      ${meta && meta.state === "rejected" && meta.provenance && meta.provenance.rejection ? maskRejection(meta.provenance.rejection) : ""}</li>`;
  }

  function render() {
    list.innerHTML = session.targets.map(row).join("");
    const warned = session.warnings();
    warningList.innerHTML =
      warned
        .map(({ target, warnings }) => `<li data-target="${target.ref.id}">#${session.targets.indexOf(target) + 1}: ${warnings.map(escapeHtml).join(", ")}</li>`)
        .join("") || '<li class="muted">none</li>';
  }

  list.addEventListener("click", (event) => {
    const item = event.target.closest("[data-target]");
    if (!item) return;
    event.stopPropagation(); // the list is redrawn below: the root handler must not see a detached button
    const target = session.targetById(Number(item.dataset.target));
    if (!target) return;
    session.selected = target.ref;
    const act = event.target.dataset.act;
    if (act === "accept") session.review(target.ref, true, "", decide);
    else if (act === "reject") session.review(target.ref, false, window.prompt("Why is this mask wrong? (optional)") || "");
    onSelect(target);
    render();
  });
  list.addEventListener("change", (event) => {
    const item = event.target.closest("[data-target]");
    if (item && event.target.type === "range") {
      const target = session.targetById(Number(item.dataset.target));
      if (target) session.setTightness(target.ref, Number(event.target.value));
    }
  });
  warningList.addEventListener("click", (event) => {
    const item = event.target.closest("[data-target]");
    if (item) onJump(session.targetById(Number(item.dataset.target)));
  });
  return render;
}

/** Pixels in the mask as it is now: an edit is counted as it is painted, not when it is saved. */
function area(mask) {
  if (!mask) return null;
  if (!mask.dirty) return mask.meta ? mask.meta.area : null;
  let n = 0;
  for (let i = 0; i < mask.raster.length; i += 1) n += mask.raster[i] ? 1 : 0;
  return n;
}

function maskRejection(rejection) {
  const comment = rejection.comment ? `: ${escapeHtml(rejection.comment)}` : "";
  return `<div class="review-note mask-rejection">rejected by ${escapeHtml(rejection.by || "?")}${comment}</div>`;
}
