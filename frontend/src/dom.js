// Small DOM helpers shared by the views: escaping, element lookup, role checks.
export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function $(root, selector) {
  return root.querySelector(selector);
}

export function $$(root, selector) {
  return [...root.querySelectorAll(selector)];
}

const RANK = { viewer: 0, annotator: 1, reviewer: 2, manager: 3, owner: 4 };

/** Whether a project role reaches `minimum` (the API still checks; this only hides what would be refused). */
export function can(role, minimum) {
  return role in RANK && RANK[role] >= RANK[minimum];
}

export function statusLabel(status) {
  return String(status || "").replace("_", " ");
}

// Inputs that take no typed text: a shortcut pressed while one of them has the focus is still a shortcut.
const KEYLESS_INPUTS = new Set(["range", "checkbox", "radio", "button", "submit", "reset", "color", "file"]);

/** True when the key event comes from a field that takes typed text (shortcuts must not fire there). A slider,
 * checkbox or menu keeps the focus after a click; the labeler's keys must keep working then. */
export function typing(event) {
  const target = event.target;
  if (!target || !target.tagName) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA") return true;
  return target.tagName === "INPUT" && !KEYLESS_INPUTS.has(target.type);
}

/** The last rejection of an image ({comment, by, at} from the API) as a short HTML note; "" when there is none. */
export function rejectionNote(rejection, className = "review-note") {
  if (!rejection) return "";
  const when = new Date(rejection.at).toLocaleString();
  const comment = rejection.comment ? `: ${escapeHtml(rejection.comment)}` : " (no comment)";
  return `<p class="${className}" title="${escapeHtml(rejection.comment)}">Sent back by <b>${escapeHtml(rejection.by || "?")}</b>
    <time datetime="${escapeHtml(rejection.at)}">${escapeHtml(when)}</time>${comment}</p>`;
}
