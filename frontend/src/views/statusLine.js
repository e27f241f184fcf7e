// The labeler's status line: mask generation in flight or its last timing, the session's message, the save
// button's count of unsaved masks, and undo/redo availability. Tests read the canvas data attributes it sets.
import { $ } from "../dom.js";

export function statusLine(root, session, canvas) {
  function renderStatus() {
    const gen = $(root, ".gen-status");
    gen.classList.toggle("pending", session.pending > 0);
    gen.textContent =
      session.pending > 0 ? "generating masks…" : session.lastMaskMs != null
          ? `masks in ${Math.round(session.lastMaskMs)} ms` +
            (session.lastRequestMs != null ? ` (request ${Math.round(session.lastRequestMs)} ms)` : "")
          : "";
    canvas.dataset.pending = String(session.pending);
    canvas.dataset.masksApplied = String(session.masksApplied);
    $(root, ".message").textContent = session.message;
    const dirty = session.dirtyMasks().length;
    $(root, "[data-act=save]").textContent = dirty ? `Save (${dirty})` : "Save";
  }
  function renderHistory() {
    $(root, "[data-act=undo]").disabled = !session.history.done.length;
    $(root, "[data-act=redo]").disabled = !session.history.undone.length;
    renderStatus();
  }
  return { renderStatus, renderHistory };
}
