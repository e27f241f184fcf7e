// A project's images: filters (status, split, warnings, assignee), thumbnails, cursor pages, the review queue.
import { api } from "../api.js";
import { $, can, escapeHtml, rejectionNote, statusLabel } from "../dom.js";
import { stretchThumbnail } from "./thumbnail.js";

const STATUSES = ["new", "in_progress", "submitted", "confirmed", "rejected"];
const SPLITS = ["train", "val", "test"];

function options(values, selected) {
  return ['<option value="">any</option>', ...values.map((v) => `<option value="${v}" ${v === selected ? "selected" : ""}>${statusLabel(v)}</option>`)].join("");
}

function card(image) {
  return `<li class="card image-card" data-image="${image.id}" data-status="${image.status}">
    <a href="#/i/${image.id}"><img loading="lazy" alt="${escapeHtml(image.original_name)}" src="${api.thumbnailUrl(image.id)}"></a>
    <div class="name">${escapeHtml(image.original_name)}</div>
    <div class="meta"><span class="badge status-${image.status}">${statusLabel(image.status)}</span>
    ${image.width}×${image.height} · ${image.bit_depth}-bit · ${image.split} · ${image.target_count} targets
    ${image.has_warnings ? '<span class="badge warn">warnings</span>' : ""}
    ${image.point_outside ? '<span class="badge warn point-outside" title="A mask does not contain its own point: the reviewer must decide">point outside mask</span>' : ""}</div>
    ${image.status !== "confirmed" ? rejectionNote(image.last_rejection) : ""}</li>`;
}

export async function showImages(root, projectId, params) {
  const project = await api.project(projectId);
  const filters = {
    status: params.get("status") || "",
    split: params.get("split") || "",
    has_warnings: params.get("has_warnings") || "",
    assigned_to: params.get("assigned_to") || "",
  };
  root.innerHTML = `<section class="images-view">
    <nav class="crumbs"><a href="#/">Projects</a> › <a href="#/p/${projectId}">${escapeHtml(project.name)}</a> › Images</nav>
    <div class="toolbar">
      <form class="filters inline-form">
        <label>Status <select name="status">${options(STATUSES, filters.status)}</select></label>
        <label>Split <select name="split">${options(SPLITS, filters.split)}</select></label>
        <label>Warnings <select name="has_warnings"><option value="">any</option>
          <option value="true" ${filters.has_warnings === "true" ? "selected" : ""}>with warnings</option>
          <option value="false" ${filters.has_warnings === "false" ? "selected" : ""}>without</option></select></label>
        <label>Assigned <select name="assigned_to"><option value="">anyone</option>
          <option value="me" ${filters.assigned_to === "me" ? "selected" : ""}>me</option>
          <option value="none" ${filters.assigned_to === "none" ? "selected" : ""}>nobody</option></select></label>
      </form>
      ${can(project.role, "annotator") ? '<button class="next-image primary">Label next image ▶</button>' : ""}
      ${can(project.role, "reviewer") ? `<a class="button" href="#/p/${projectId}/images?status=submitted">Review queue</a>` : ""}
    </div>
    <ul class="cards image-grid"></ul><p class="muted empty" hidden>No image matches these filters.</p>
    <button class="more" hidden>Load more</button><p class="error" role="alert"></p></section>`;
  const grid = $(root, ".image-grid");
  const more = $(root, ".more");
  let next = null;
  const show = (page) => {
    grid.insertAdjacentHTML("beforeend", page.results.map(card).join(""));
    for (const img of grid.querySelectorAll("img:not([data-wired])")) {
      img.dataset.wired = "1";
      img.addEventListener("load", () => stretchThumbnail(img), { once: true });
    }
    next = page.next;
    more.hidden = !next;
    $(root, ".empty").hidden = grid.children.length > 0;
  };
  more.addEventListener("click", async () => show(await api.page(next)));
  $(root, ".filters").addEventListener("change", (event) => {
    const form = event.currentTarget;
    const search = new URLSearchParams();
    for (const name of ["status", "split", "has_warnings", "assigned_to"]) if (form[name].value) search.set(name, form[name].value);
    location.hash = `#/p/${projectId}/images${search.toString() ? `?${search}` : ""}`;
  });
  const nextButton = $(root, ".next-image");
  if (nextButton) {
    nextButton.addEventListener("click", async () => {
      try {
        const image = await api.claim(projectId);
        location.hash = `#/i/${image.id}`;
      } catch (error) {
        $(root, ".error").textContent = error.status === 404 ? "No image is left to label." : error.message;
      }
    });
  }
  show(await api.images(projectId, filters)); // last: the handlers above are in place before the cards appear
  document.title = `Images · ${project.name}`;
  return null;
}
