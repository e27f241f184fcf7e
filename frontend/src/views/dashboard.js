// The project dashboard: counts by status and per annotator, and the cards, each its own panel module: jobs
// (jobsPanel.js), quality of the masks received (qualityPanel.js), model versions (modelsPanel.js), members
// (membersPanel.js), upload (upload.js).
import { api } from "../api.js";
import { $, can, escapeHtml, statusLabel } from "../dom.js";
import { JOBS_CARD, jobsPanel } from "./jobsPanel.js";
import { membersPanel } from "./membersPanel.js";
import { modelsPanel } from "./modelsPanel.js";
import { qaCard, renderQa } from "./qaPanel.js";
import { loopEvents, loopSchedule, qualityChart, qualitySummary } from "./qualityPanel.js";
import { claimOrderControl } from "./uncertainty.js";
import { uploadPanel } from "./upload.js";

const STATUSES = ["new", "in_progress", "submitted", "confirmed", "rejected"];
const SHORT = { new: "new", in_progress: "in prog.", submitted: "subm.", confirmed: "conf.", rejected: "rej." };

function statusBars(byStatus, total) {
  return STATUSES.map((s) => {
    const n = byStatus[s] || 0;
    const pct = total ? (100 * n) / total : 0;
    return `<div class="bar-row" data-status="${s}"><a href="#/p/__P__/images?status=${s}">${statusLabel(s)}</a>
      <div class="bar"><div class="fill status-${s}" data-pct="${pct.toFixed(1)}"></div></div><span class="n">${n}</span></div>`;
  }).join("");
}

function annotatorTable(rows) {
  const body = rows
    .map(
      (r) => `<tr data-user="${escapeHtml(r.username ?? "")}"><td>${r.username ? escapeHtml(r.username) : '<span class="muted">unassigned</span>'}</td>
      ${STATUSES.map((s) => `<td class="num" data-col="${s}">${r.counts[s] || 0}</td>`).join("")}<td class="num">${r.total}</td></tr>`,
    )
    .join("");
  return `<table class="annotators"><thead><tr><th>annotator</th>${STATUSES.map((s) => `<th title="${statusLabel(s)}">${SHORT[s]}</th>`).join("")}<th>total</th></tr></thead><tbody>${body}</tbody></table>`;
}

export async function showDashboard(root, projectId, me) {
  const project = await api.project(projectId);
  const manage = can(project.role, "manager");
  root.innerHTML = `<section class="dashboard">
    <nav class="crumbs"><a href="#/">Projects</a> › ${escapeHtml(project.name)} <span class="role">${escapeHtml(project.role)}</span></nav>
    <div class="toolbar"><a class="button" href="#/p/${projectId}/images">Images</a>
      ${can(project.role, "annotator") ? `<a class="button primary" href="#/p/${projectId}/images?assigned_to=me">My images</a><button class="next-image primary">Label next image ▶</button>` : ""}
      ${can(project.role, "reviewer") ? `<a class="button" href="#/p/${projectId}/images?status=submitted">Review queue</a>
        <a class="button gallery-link" href="#/p/${projectId}/gallery">Review gallery</a>` : ""}
      ${manage ? `<a class="button team-link" href="#/team?project=${projectId}">Team</a>${claimOrderControl(project)}` : ""}</div>
    <p class="error top-error" role="alert"></p>
    <div class="grid">
      <section class="card stats"><h3>Images</h3><div class="status-bars"></div><p class="totals muted"></p></section>
      <section class="card per-annotator"><h3>Per annotator</h3><div class="annotator-table"></div></section>
      ${JOBS_CARD(manage)}
      <section class="card quality-card wide"><h3>Quality of the masks your team received</h3>
        <div class="quality-summary-slot"></div><div class="quality-chart"></div>
        <h4>What the learning loop did</h4><div class="loop-schedule-slot"></div><div class="loop-event-list"></div></section>
      ${can(project.role, "reviewer") ? qaCard(project, manage) : ""}
      <section class="card models-card"><h3>Model versions</h3><div class="model-list"></div></section>
      <section class="card members-card"><h3>Members</h3><div class="member-list"></div></section>
      <div class="card upload-slot" ${manage ? "" : "hidden"}></div>
    </div></section>`;

  async function loadStats() {
    const stats = await api.stats(projectId);
    $(root, ".status-bars").innerHTML = statusBars(stats.by_status, stats.images).replaceAll("__P__", projectId);
    // Widths through the CSSOM: the Content-Security-Policy refuses style="" attributes in markup.
    for (const fill of root.querySelectorAll(".status-bars .fill")) fill.style.width = `${fill.dataset.pct}%`;
    $(root, ".totals").textContent = `${stats.images} images · ${stats.targets} targets · masks: ${
      Object.entries(stats.masks_by_state).map(([k, v]) => `${v} ${k}`).join(", ") || "none"
    }`;
    $(root, ".annotator-table").innerHTML = annotatorTable(stats.by_annotator);
  }
  async function loadQuality() {
    const quality = await api.quality(projectId);
    $(root, ".quality-summary-slot").innerHTML = qualitySummary(quality.summary);
    $(root, ".quality-chart").innerHTML = qualityChart(quality);
    $(root, ".loop-schedule-slot").innerHTML = loopSchedule(quality.schedule);
    $(root, ".loop-event-list").innerHTML = loopEvents(quality.events);
  }
  async function loadQa() {
    if (can(project.role, "reviewer")) renderQa(root, await api.qa(projectId));
  }
  const loadMembers = membersPanel(root, projectId, manage, me.id);
  const loadModels = modelsPanel(root, projectId, manage, (error) => jobs.error(error)); // one error line for both
  const jobs = jobsPanel(root, projectId, manage, () => {
    loadStats();
    loadQa();
    loadModels();
    loadQuality();
  });
  if (manage) {
    $(root, ".upload-slot").append(
      uploadPanel(projectId, () => {
        loadStats();
        jobs.poke();
      }),
    );
  }
  /** Save a settings change (version-checked); true when saved, else the error is shown and false returned. */
  async function saveSettings(settings) {
    try {
      Object.assign(project, await api.projectUpdate(projectId, { version: project.version, settings }));
      $(root, ".top-error").textContent = "";
      return true;
    } catch (error) {
      $(root, ".top-error").textContent = error.message;
      return false;
    }
  }
  const order = root.querySelector("select[name=claim-order]");
  if (order) {
    order.addEventListener("change", async () => {
      if (!(await saveSettings({ claim: { order: order.value } }))) {
        order.value = project.settings?.claim?.order || "id";
        return;
      }
      try {
        if (order.value === "active") {
          await api.rank(projectId); // frames never ranked would otherwise come in upload order
          jobs.poke();
        }
      } catch (error) {
        $(root, ".top-error").textContent = error.message; // saved; only the ranking job failed to start
      }
    });
  }
  const share = root.querySelector("input[name=double-share]");
  if (share) {
    share.addEventListener("change", async () => {
      const value = Math.min(100, Math.max(0, Number(share.value) || 0)) / 100;
      await saveSettings({ qa: { double_share: value } });
      share.value = String(Math.round(100 * (project.settings?.qa?.double_share ?? 0)));
    });
  }
  const next = $(root, ".next-image");
  if (next) {
    next.addEventListener("click", async () => {
      try {
        location.hash = `#/i/${(await api.claim(projectId)).id}`;
      } catch (error) {
        $(root, ".top-error").textContent = error.status === 404 ? "No image is left to label." : error.message;
      }
    });
  }
  // Data last: every handler is in place before anything it serves is on the page.
  await Promise.all([loadStats(), loadMembers(), loadModels(), loadQuality(), loadQa()]);
  document.title = `${project.name} · IR label`;
  return () => jobs.stop();
}
