// Suggested targets in the labeler: candidates a detector proposed on this frame, drawn as dashed yellow diamonds
// (never a label until accepted). One key decides the selected one: Y or A accepts it (it becomes a point and its
// mask is generated as for a click), X, Delete or Backspace rejects it; S / Shift+S step through them,
// Shift+A accepts all, Escape hands the keys back to the labeler. A click on a diamond selects it.
import { api } from "../api.js";
import { $, escapeHtml, typing } from "../dom.js";
import { centreOn, distance, imageToScreen } from "../geometry.js";

const HIT_PX = 10;
const COLOUR = "#ffd600";
const KEYS = { y: "accept", a: "accept", x: "reject", Delete: "reject", Backspace: "reject", s: "next" };
const POLL_MS = 500;

export const SUGGESTION_HELP = "Y/A accept · X/Del reject · S next · Shift+A accept all · Esc back to targets";

/** Draw the suggestions (dashed diamonds, the selected one larger with its number). */
export function drawSuggestions(ctx, view, items, selectedId) {
  ctx.save();
  ctx.font = "11px system-ui, sans-serif";
  items.forEach((item, index) => {
    const s = imageToScreen(view, item.x, item.y);
    const selected = item.id === selectedId;
    const r = selected ? 10 : 7;
    ctx.lineWidth = selected ? 2.5 : 1.5;
    ctx.strokeStyle = COLOUR;
    ctx.setLineDash([3, 2]);
    ctx.beginPath();
    ctx.moveTo(s.x, s.y - r);
    ctx.lineTo(s.x + r, s.y);
    ctx.lineTo(s.x, s.y + r);
    ctx.lineTo(s.x - r, s.y);
    ctx.closePath();
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLOUR;
    ctx.fillText(`?${index + 1}`, s.x + r + 2, s.y - r);
  });
  ctx.restore();
}

/** The suggestion under screen point (sx, sy), or null. */
export function hitSuggestion(items, view, sx, sy) {
  let best = null;
  let bestDistance = HIT_PX;
  for (const item of items) {
    const d = distance(imageToScreen(view, item.x, item.y), { x: sx, y: sy });
    if (d <= bestDistance) {
      best = item;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Mount the suggestions of `image` on the labeler: a panel section before the target list, a canvas layer, keys
 * and clicks. `session` receives accepted targets (it reloads), `canAnnotate` decides whether keys act.
 * Returns {reload, close}; `state` (items, selected) is exposed for tests through the handle.
 */
export function mountSuggestions(root, { stage, session, image, canAnnotate }) {
  // `heldTarget`: the labeler's selected target when a suggestion was selected; once the labeler selects another
  // (Tab, a click), the keys are the labeler's again (Delete then deletes that target, not a suggestion).
  const state = { items: [], selected: null, heldTarget: null };
  const section = document.createElement("section");
  section.className = "suggestions";
  $(root, ".panel").insertBefore(section, $(root, ".panel .targets"));
  stage.layers.push((ctx, view) => drawSuggestions(ctx, view, state.items, state.selected));
  let closed = false;

  function render() {
    const n = state.items.length;
    const index = state.items.findIndex((item) => item.id === state.selected);
    const tools = canAnnotate
      ? `<div class="row"><button data-sugg="detect" title="Run the detector on this frame">Propose targets</button>
         ${n ? '<button data-sugg="accept-all" title="Shift+A">Accept all</button>' : ""}</div>`
      : "";
    section.innerHTML = `<h4>Suggested targets <span class="count">${n}</span></h4>
      <p class="muted hint">${
        n
          ? `Proposed by a detector or carried from the previous frame, not labels until you accept them.${canAnnotate ? ` ${SUGGESTION_HELP}.` : ""}`
          : "None on this frame."
      }</p>
      ${n ? `<ol class="suggestion-list">${state.items
          .map(
            (item, i) => `<li data-suggestion="${item.id}" class="${i === index ? "selected" : ""}">
              <button data-sugg="select" title="Show it">?${i + 1}</button>
              <span class="muted">${item.source === "carried" ? "carried" : "score"} ${escapeHtml(item.score.toFixed(1))}</span>
              ${canAnnotate ? '<button data-sugg="accept" title="Y">Accept</button><button data-sugg="reject" title="X">Delete</button>' : ""}
            </li>`,
          )
          .join("")}</ol>` : ""}
      ${tools}<p class="suggestion-message" role="status"></p>`;
    stage.canvas.dataset.suggestions = String(n);
    stage.canvas.dataset.suggestionSelected = state.selected == null ? "" : String(state.selected);
    stage.requestDraw();
  }
  function say(text) {
    const message = section.querySelector(".suggestion-message");
    if (message) message.textContent = text;
  }
  async function reload() {
    const items = await api.suggestions(image.id);
    if (closed) return;
    state.items = items;
    if (!items.some((item) => item.id === state.selected)) hold(items.length ? items[0].id : null);
    render();
  }
  function hold(id) {
    state.selected = id;
    state.heldTarget = session.selected;
  }
  function select(id, centre = true) {
    hold(id);
    const item = state.items.find((candidate) => candidate.id === id);
    if (item && centre) {
      stage.setView(centreOn(stage.cssWidth, stage.cssHeight, item.x, item.y, Math.max(stage.view.scale, 4)));
    }
    render();
  }
  function step(delta) {
    const n = state.items.length;
    if (!n) return;
    const index = state.items.findIndex((item) => item.id === state.selected);
    select(state.items[(index + delta + n) % n].id);
  }
  /** Drop a decided suggestion and select the next one, so that one key per candidate goes through them all. */
  function decided(id) {
    const index = state.items.findIndex((item) => item.id === id);
    state.items = state.items.filter((item) => item.id !== id);
    const next = state.items[Math.min(Math.max(index, 0), state.items.length - 1)];
    hold(next ? next.id : null);
    render();
  }
  /** Accept through the session's ordered queue: the new point and then its generated mask appear in the labeler. */
  function accept(id) {
    decided(id);
    return session.enqueue(async () => {
      const { target } = await api.suggestionAccept(id);
      await session.load();
      session.say(`Suggestion accepted as target ${session.numberOf(target.id)}.`);
      await followGeneration();
    });
  }
  async function followGeneration() {
    for (let i = 0; i < 2 && !closed; i += 1) {
      if ((await api.generation(image.id)).done) break; // each call waits a few seconds for the worker
    }
    if (!closed) await session.load();
  }
  async function reject(id) {
    decided(id);
    try {
      await api.suggestionReject(id);
      say("Suggestion deleted.");
    } catch (error) {
      say(error.message);
      await reload();
    }
  }
  async function acceptAll() {
    if (!state.items.length) return;
    state.items = [];
    state.selected = null;
    render();
    await session.enqueue(async () => {
      const { targets } = await api.suggestionsAcceptAll(image.id);
      await session.load();
      session.say(`${targets.length} suggestions accepted.`);
      await followGeneration();
    });
  }
  async function detect() {
    try {
      say("Proposing targets…");
      let job = await api.suggestionsDetect(image.id);
      while (!closed && ["queued", "running"].includes(job.status)) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        job = await api.job(job.id);
      }
      if (closed) return;
      await reload();
      say(job.status === "succeeded" ? `${state.items.length} suggested targets.` : job.message);
    } catch (error) {
      say(error.message);
    }
  }

  section.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-sugg]");
    if (!button) return;
    const row = button.closest("[data-suggestion]");
    const id = row ? Number(row.dataset.suggestion) : null;
    const act = button.dataset.sugg;
    if (act === "select") select(id);
    else if (act === "accept") accept(id);
    else if (act === "reject") reject(id);
    else if (act === "accept-all") acceptAll();
    else if (act === "detect") detect();
    stage.canvas.focus({ preventScroll: true });
  });
  // Capture on the stage's wrapper: a click on a diamond selects it and never reaches the point tool (which would
  // add a target there); any other click hands the keys back to the labeler.
  const wrap = stage.canvas.parentElement;
  function onPointer(event) {
    if (event.target !== stage.canvas || event.button !== 0) return;
    const rect = stage.canvas.getBoundingClientRect();
    const hit = hitSuggestion(state.items, stage.view, event.clientX - rect.left, event.clientY - rect.top);
    if (hit) {
      event.stopPropagation();
      event.preventDefault();
      select(hit.id, false);
    } else if (state.selected != null) {
      state.selected = null;
      render();
    }
  }
  function onKey(event) {
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey || !canAnnotate) return;
    if (event.key === "A" && event.shiftKey && state.items.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      acceptAll();
      return;
    }
    if (state.selected != null && session.selected !== state.heldTarget) {
      state.selected = null; // the labeler selected a target meanwhile: its keys win
      render();
    }
    const id = state.selected;
    if (id == null) return;
    const action = event.key === "S" ? "previous" : event.key === "Escape" ? "release" : KEYS[event.key];
    if (!action) return;
    if (action === "release") {
      state.selected = null; // Escape also reaches the labeler (it closes the help)
      render();
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation(); // the labeler's keys (A: point tool, X: reject mask, Delete) do not also run
    if (action === "accept") accept(id);
    else if (action === "reject") reject(id);
    else if (action === "next") step(1);
    else if (action === "previous") step(-1);
  }
  wrap.addEventListener("pointerdown", onPointer, true);
  document.addEventListener("keydown", onKey, true);
  render();
  reload().catch((error) => say(error.message));
  return {
    state,
    reload,
    close() {
      closed = true;
      wrap.removeEventListener("pointerdown", onPointer, true);
      document.removeEventListener("keydown", onKey, true);
    },
  };
}
