// A frame of a sequence in the labeler: where it is in its sequence, the frames before and after (buttons and
// PageUp / PageDown, the view kept), and the previous frame's points carried here as suggestions: offered on
// opening a frame that has no targets yet, or with "Carry points". They are accepted, moved or deleted with the
// suggestion keys (Y/A, X/Del, S), and an accepted one keeps its target's track id.
import { api } from "../api.js";
import { escapeHtml } from "../dom.js";

/** Mount the panel (nothing for a lone frame). Returns { keys } for the labeler's key map. */
export function sequencePanel(root, { image, canAnnotate, suggestions, hasTargets, leave }) {
  const frames = image.sequence_frames || { previous_id: null, next_id: null, length: 0 };
  if (!image.sequence) return { keys: {} };
  const section = document.createElement("section");
  section.className = "sequence";
  root.querySelector(".panel .image-info").after(section);
  const open = ["new", "in_progress", "rejected"].includes(image.status);
  section.innerHTML = `<h4>Sequence</h4>
    <p><b>${escapeHtml(image.sequence)}</b> · frame ${image.frame_index} of ${frames.length}</p>
    <div class="row"><button data-seq="previous" title="PageUp" ${frames.previous_id ? "" : "disabled"}>◀ Frame</button>
    <button data-seq="next" title="PageDown" ${frames.next_id ? "" : "disabled"}>Frame ▶</button>
    ${canAnnotate && open && frames.previous_id ? '<button data-seq="carry" title="Offer the previous frame\'s points here">Carry points</button>' : ""}</div>
    <p class="muted carry-message" role="status"></p>`;
  const say = (text) => {
    section.querySelector(".carry-message").textContent = text;
  };
  const go = (id) =>
    id &&
    api
      .image(id)
      .then((next) => leave(next))
      .catch((error) => say(error.message));
  async function carry() {
    try {
      const carried = await api.carry(image.id);
      const weak = carried.filter((s) => !s.params.sure).length;
      say(carried.length ? `${carried.length} points carried from the previous frame${weak ? `, ${weak} unsure` : ""}.` : "Nothing to carry.");
      await suggestions.reload();
    } catch (error) {
      say(error.message);
    }
  }
  section.addEventListener("click", (event) => {
    const act = event.target.dataset.seq;
    if (act === "previous") go(frames.previous_id);
    else if (act === "next") go(frames.next_id);
    else if (act === "carry") carry();
  });
  // A frame nobody has started: the previous frame's points are offered at once.
  if (canAnnotate && open && frames.previous_id && !hasTargets) carry();
  return { keys: { "previous-frame": () => go(frames.previous_id), "next-frame": () => go(frames.next_id) } };
}
