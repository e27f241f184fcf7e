// The review gallery (#/p/<id>/gallery): every target of the project as a zoomed tile with its mask's outline,
// warnings first and then size; C confirms and R rejects the focused tile, the arrows move the focus, a click on a
// tile's picture (or Enter) opens the target in the labeler. Tiles are PNGs drawn by the server, one small image per
// target, and pages come in by keyset as the focus nears the end, so 10,000 targets cost what 48 do.
import { api, needsAcknowledgement } from "../api.js";
import { $, $$, can, escapeHtml, typing } from "../dom.js";

const WARNINGS = [
  ["", "all targets"],
  ["any", "with a warning"],
  ["none", "without warnings"],
  ["point_outside", "point outside its mask"],
  ["too_large", "too large"],
  ["disconnected", "disconnected"],
  ["fallback", "fallback"],
  ["adhesion", "adhesion"],
];
const STATES = [
  ["", "any state"],
  ["predicted,edited,none", "unconfirmed"],
  ["predicted", "predicted (new)"],
  ["edited", "edited"],
  ["confirmed", "confirmed"],
  ["rejected", "rejected"],
  ["none", "no mask yet"],
];
const ORDERS = [
  ["large", "warnings, then largest"],
  ["small", "warnings, then smallest"],
];
const FILTERS = ["warning", "state", "annotator_id", "order"];

function options(pairs, chosen) {
  return pairs
    .map(([value, label]) => `<option value="${escapeHtml(value)}" ${value === chosen ? "selected" : ""}>${escapeHtml(label)}</option>`)
    .join("");
}

/** The API's filters from the page's query string (state "a,b" is sent as state=a&state=b). */
export function galleryFilters(params) {
  const filters = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = name === "state" ? value.split(",") : value;
  }
  return filters;
}

function tileHtml(tile, review) {
  const mask = tile.mask;
  const state = mask ? mask.state : "none";
  const warnings = (mask ? mask.warnings : []).map((w) => `<span class="badge warn warn-${escapeHtml(w)}">${escapeHtml(w)}</span>`).join("");
  const href = `#/i/${tile.image_id}?target=${tile.id}`;
  return `<figure class="tile state-${escapeHtml(state)}" data-target="${tile.id}" data-state="${escapeHtml(state)}" tabindex="-1">
    <a class="open" href="${href}" title="Open in the labeler (Enter)"><img src="${escapeHtml(tile.crop_url)}" width="96" height="96" alt="target ${tile.id}" loading="lazy"></a>
    <figcaption><span class="badge state">${escapeHtml(state)}</span>${mask ? `<span class="area">${mask.area} px</span>` : ""}${warnings}
      <span class="where muted" title="${escapeHtml(tile.image_name)}">${escapeHtml(tile.image_name)}</span>
      ${review && mask ? '<span class="acts"><button data-act="confirm" title="Confirm (C)">✓</button><button data-act="reject" title="Reject (R)">✗</button></span>' : ""}
      <span class="tile-error error" role="alert"></span></figcaption></figure>`;
}

export async function showGallery(root, projectId, params) {
  const filters = galleryFilters(params);
  const [project, members] = await Promise.all([api.project(projectId), api.members(projectId)]);
  const review = can(project.role, "reviewer");
  const people = [["", "every annotator"], ...members.map((m) => [String(m.user_id), m.username])];
  root.innerHTML = `<section class="gallery">
    <nav class="crumbs"><a href="#/">Projects</a> › <a href="#/p/${projectId}">${escapeHtml(project.name)}</a> › Review gallery</nav>
    <form class="toolbar gallery-filters">
      <select name="warning">${options(WARNINGS, params.get("warning") || "")}</select>
      <select name="state">${options(STATES, params.get("state") || "")}</select>
      <select name="annotator_id">${options(people, params.get("annotator_id") || "")}</select>
      <select name="order">${options(ORDERS, params.get("order") || "large")}</select>
      <span class="count muted"></span>
      <span class="keys muted">${review ? "<kbd>C</kbd> confirm · <kbd>R</kbd> reject · " : ""}<kbd>←↑↓→</kbd> move · <kbd>Enter</kbd> or click: open in the labeler</span>
    </form>
    <p class="error top-error" role="alert"></p>
    <div class="tiles" role="grid"></div>
    <p class="more-row"><button class="more" hidden>Load more</button></p></section>`;
  const grid = $(root, ".tiles");
  const more = $(root, ".more");
  const byId = new Map(); // target id -> its tile's data (mask state and version for confirm/reject)
  const tiles = () => $$(grid, ".tile");
  let next = null;
  let loading = null;
  let focused = -1;
  const acknowledging = new Set(); // tiles whose point_outside the reviewer was told about: a second C confirms

  async function loadPage() {
    if (loading) return loading;
    loading = (async () => {
      const page = await api.gallery(projectId, { ...filters, ...(next ? { after: next } : {}) });
      grid.insertAdjacentHTML("beforeend", page.results.map((tile) => tileHtml(tile, review)).join(""));
      for (const tile of page.results) byId.set(tile.id, tile);
      next = page.next;
      more.hidden = !next;
      if (page.count !== null) $(root, ".count").textContent = `${page.count} target${page.count === 1 ? "" : "s"}`;
      if (page.count === 0) grid.innerHTML = '<p class="muted empty">No target matches these filters.</p>';
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  }

  function focus(index) {
    const all = tiles();
    if (!all.length) return;
    focused = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((el, i) => el.classList.toggle("focused", i === focused));
    all[focused].focus({ preventScroll: true });
    all[focused].scrollIntoView({ block: "nearest" });
    if (next && focused >= all.length - 6) loadPage().catch(showError); // the next page arrives before it is needed
  }
  function columns() {
    const all = tiles();
    if (all.length < 2) return 1;
    const top = all[0].offsetTop;
    const index = all.findIndex((el) => el.offsetTop !== top);
    return index === -1 ? all.length : index;
  }
  function showError(error) {
    $(root, ".top-error").textContent = error ? error.message : "";
  }

  async function decide(element, act) {
    const id = Number(element.dataset.target);
    const tile = byId.get(id);
    if (!tile || !tile.mask) return;
    const note = $(element, ".tile-error");
    note.textContent = "";
    try {
      const mask =
        act === "confirm"
          ? await api.maskConfirm(id, tile.mask.version, acknowledging.has(id) ? ["point_outside"] : undefined)
          : await api.maskReject(id, tile.mask.version, "");
      tile.mask = { ...tile.mask, state: mask.state, version: mask.version };
      acknowledging.delete(id);
      element.className = `tile state-${mask.state}${element.classList.contains("focused") ? " focused" : ""}`;
      element.dataset.state = mask.state;
      $(element, ".badge.state").textContent = mask.state;
      if (element === tiles()[focused]) focus(focused + 1); // on to the next tile
    } catch (error) {
      if (act === "confirm" && needsAcknowledgement(error)) {
        acknowledging.add(id);
        note.textContent = "Its point is outside the mask: look again, press C once more to confirm it anyway.";
      } else {
        note.textContent = error.message;
      }
    }
  }

  function onKey(event) {
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    const all = tiles();
    if (!all.length) return;
    const key = event.key;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() };
    if (key in moves) {
      event.preventDefault();
      focus(focused < 0 ? 0 : focused + moves[key]);
    } else if (focused >= 0 && review && (key === "c" || key === "C")) {
      event.preventDefault();
      decide(all[focused], "confirm");
    } else if (focused >= 0 && review && (key === "r" || key === "R")) {
      event.preventDefault();
      decide(all[focused], "reject");
    } else if (focused >= 0 && key === "Enter") {
      event.preventDefault();
      location.hash = $(all[focused], "a.open").getAttribute("href");
    }
  }
  document.addEventListener("keydown", onKey);

  grid.addEventListener("click", (event) => {
    const element = event.target.closest(".tile");
    if (!element) return;
    const index = tiles().indexOf(element);
    const act = event.target.dataset.act;
    if (act) {
      focused = index;
      decide(element, act);
    } else if (!event.target.closest("a.open")) {
      focus(index);
    }
  });
  more.addEventListener("click", () => loadPage().catch(showError));
  $(root, ".gallery-filters").addEventListener("change", (event) => {
    const search = new URLSearchParams();
    for (const name of FILTERS) {
      const value = event.currentTarget[name].value;
      if (value && !(name === "order" && value === "large")) search.set(name, value);
    }
    const text = search.toString();
    location.hash = `#/p/${projectId}/gallery${text ? `?${text}` : ""}`;
  });

  await loadPage();
  focus(0);
  grid.dataset.ready = "1";
  document.title = `Review gallery · ${project.name}`;
  return () => document.removeEventListener("keydown", onKey);
}
