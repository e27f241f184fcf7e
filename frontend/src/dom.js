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

/** True when the key event comes from a text field (shortcuts must not fire there). */
export function typing(event) {
  const tag = event.target && event.target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
}
