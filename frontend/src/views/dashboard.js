// The project dashboard: counts by status and per annotator, jobs with live progress, model versions and their
// training curves, members and roles (managers), upload (managers).
import { api } from "../api.js";
import { $, can, escapeHtml, statusLabel } from "../dom.js";
import { isActive, watchJobs } from "../jobs.js";
import { curveChart } from "./charts.js";
import { loopEvents, loopSchedule, qualityChart, qualitySummary } from "./qualityPanel.js";
import { uploadPanel } from "./upload.js";

const STATUSES = ["new", "in_progress", "submitted", "confirmed", "rejected"];
const ROLES = ["viewer", "annotator", "reviewer", "manager", "owner"];
const SHORT = { new: "new", in_progress: "in prog.", submitted: "subm.", confirmed: "conf.", rejected: "rej." };
const LONG_KINDS = ["prelabel", "detect", "train", "import", "export", "calibrate"]; // per-click and per-frame jobs are not listed

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

function jobRows(jobs, manage) {
  if (!jobs.length) return '<p class="muted">No jobs yet.</p>';
  return `<ul class="jobs">${jobs
    .map(
      (j) => `<li class="job status-${j.status}" data-job="${j.id}"><span>#${j.id} ${escapeHtml(j.kind)}</span>
      <progress max="100" value="${j.progress}"></progress><span class="pct">${j.progress}%</span>
      <span class="badge">${escapeHtml(j.status)}</span><span class="muted">${escapeHtml(j.message || "")}</span>
      ${j.errors && j.errors.length ? `<span class="error">${j.errors.length} error(s): ${escapeHtml(j.errors[0].message)}</span>` : ""}
      ${manage && j.kind === "export" && j.status === "succeeded" ? `<a class="button download" href="${api.exportDownloadUrl(j.id)}" download>Download zip</a>` : ""}
      ${manage && isActive(j) ? '<button data-act="cancel-job">Cancel</button>' : ""}</li>`,
    )
    .join("")}</ul>`;
}

function modelRows(models, manage) {
  if (!models.length) return '<p class="muted">No model versions yet: masks come from the cold-start generator.</p>';
  return models
    .map((m) => {
      const metrics = Object.entries(m.metrics || {})
        .filter(([, v]) => typeof v === "number")
        .map(([k, v]) => `<span class="metric">${escapeHtml(k)} ${Number(v).toFixed(3)}</span>`)
        .join(" ");
      const gate = m.gate && m.gate.reason ? `<p class="gate-reason">${escapeHtml(m.gate.reason)}</p>` : "";
      const p = m.params || {};
      const settings =
        m.kind === "coldstart"
          ? `<span class="metric">α ${Number(p.alpha).toFixed(2)}</span> <span class="metric">GrabCut ${p.use_grabcut ? "on" : "off"}</span> <span class="metric">size rule ${p.size_rule ? "on" : "off"}</span>`
          : p.prior && p.prior.alpha != null
            ? `<span class="metric">prior α ${Number(p.prior.alpha).toFixed(2)}</span>`
            : "";
      return `<div class="model" data-model="${m.id}"><h4>${m.project_id ? `v${m.number}` : "base"} · ${escapeHtml(m.arch)}
        <span class="badge">${escapeHtml(m.status)}</span>
        ${manage && m.project_id && m.status === "candidate" ? '<button data-act="promote">Promote</button>' : ""}
        ${manage && m.project_id && m.status === "promoted" ? '<button data-act="retire">Retire</button>' : ""}</h4><div>${settings} ${metrics || (settings ? "" : '<span class="muted">no metrics</span>')}</div>${gate}
        ${m.curve && m.curve.length ? curveChart(m.curve) : ""}</div>`;
    })
    .join("");
}

function memberRows(members, manage, myId) {
  return `<table class="members"><tbody>${members
    .map(
      (m) => `<tr data-member="${m.id}"><td>${escapeHtml(m.username)}</td><td>${
        manage && m.user_id !== myId
          ? `<select name="role">${ROLES.map((r) => `<option ${r === m.role ? "selected" : ""}>${r}</option>`).join("")}</select>
             <button data-act="remove-member">Remove</button>`
          : escapeHtml(m.role)
      }</td></tr>`,
    )
    .join("")}</tbody></table>
    ${manage ? `<form class="add-member inline-form"><input name="username" placeholder="user name" required>
      <select name="role">${ROLES.slice(0, 4).map((r) => `<option>${r}</option>`).join("")}</select><button>Add member</button></form>` : ""}
    <p class="error member-error" role="alert"></p>`;
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
      ${manage ? `<a class="button team-link" href="#/team?project=${projectId}">Team</a>` : ""}</div>
    <p class="error top-error" role="alert"></p>
    <div class="grid">
      <section class="card stats"><h3>Images</h3><div class="status-bars"></div><p class="totals muted"></p></section>
      <section class="card per-annotator"><h3>Per annotator</h3><div class="annotator-table"></div></section>
      <section class="card jobs-card"><h3>Jobs</h3>
        ${manage ? `<form class="export-form inline-form"><label class="check"><input type="checkbox" name="sirst" checked> SIRST</label>
          <label class="check"><input type="checkbox" name="coco" checked> COCO</label>
          <label class="check"><input type="checkbox" name="instances"> instance PNGs</label>
          <label class="check"><input type="checkbox" name="confirmed_only"> confirmed only</label>
          <button class="export primary">Export</button></form>
          <div class="toolbar"><button data-act="prelabel" title="Regenerates the machine masks of unconfirmed images that already have points">Pre-label images</button>
          <button data-act="suggest" title="Runs a detector on unconfirmed frames without points">Propose targets</button>
          <button data-act="train">Train a model now</button></div>
          <p class="muted hint prelabel-hint">Pre-label makes masks only for the points already placed (images without points are left as they are).
          Propose targets runs a local-contrast detector on unconfirmed frames without points: its candidates appear in the labeler
          as suggestions (yellow diamonds) to accept or delete with one key; they are not labels until accepted.</p>` : ""}
        <p class="error job-error" role="alert"></p><div class="job-list"></div></section>
      <section class="card quality-card wide"><h3>Quality of the masks your team received</h3>
        <div class="quality-summary-slot"></div><div class="quality-chart"></div>
        <h4>What the learning loop did</h4><div class="loop-schedule-slot"></div><div class="loop-event-list"></div></section>
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
  async function loadMembers() {
    $(root, ".member-list").innerHTML = memberRows(await api.members(projectId), manage, me.id);
  }
  async function loadModels() {
    $(root, ".model-list").innerHTML = modelRows(await api.modelVersions(projectId), manage);
  }
  async function loadQuality() {
    const quality = await api.quality(projectId);
    $(root, ".quality-summary-slot").innerHTML = qualitySummary(quality.summary);
    $(root, ".quality-chart").innerHTML = qualityChart(quality);
    $(root, ".loop-schedule-slot").innerHTML = loopSchedule(quality.schedule);
    $(root, ".loop-event-list").innerHTML = loopEvents(quality.events);
  }
  let hadActive = false;
  const watcher = watchJobs(projectId, LONG_KINDS, (jobs) => {
    $(root, ".job-list").innerHTML = jobRows(jobs, manage);
    const active = jobs.some(isActive);
    if (hadActive && !active) {
      loadStats();
      loadModels();
      loadQuality();
    }
    hadActive = active;
  });

  if (manage) {
    $(root, ".upload-slot").append(
      uploadPanel(projectId, () => {
        loadStats();
        watcher.poke();
      }),
    );
  }
  const jobError = (error) => {
    $(root, ".job-error").textContent = error ? error.message : "";
  };
  const exportForm = $(root, ".export-form");
  if (exportForm) {
    exportForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const formats = ["sirst", "coco", "instances"].filter((f) => exportForm[f].checked);
      try {
        jobError(null);
        await api.exportStart(projectId, { formats, confirmed_only: exportForm.confirmed_only.checked });
        watcher.poke();
      } catch (error) {
        jobError(error);
      }
    });
  }
  $(root, ".jobs-card").addEventListener("click", async (event) => {
    const act = event.target.dataset.act;
    if (!act) return;
    try {
      jobError(null);
      if (act === "prelabel") await api.prelabel(projectId);
      else if (act === "suggest") await api.projectSuggest(projectId);
      else if (act === "train") await api.train(projectId);
      else if (act === "cancel-job") await api.jobCancel(Number(event.target.closest("[data-job]").dataset.job));
      watcher.poke();
    } catch (error) {
      jobError(error);
    }
  });
  $(root, ".model-list").addEventListener("click", async (event) => {
    const act = event.target.dataset.act;
    if (act !== "promote" && act !== "retire") return;
    const id = Number(event.target.closest("[data-model]").dataset.model);
    try {
      jobError(null);
      await (act === "promote" ? api.modelPromote(id) : api.modelRetire(id));
      await loadModels();
    } catch (error) {
      jobError(error);
    }
  });
  const members = $(root, ".member-list");
  members.addEventListener("change", async (event) => {
    const row = event.target.closest("[data-member]");
    if (!row || event.target.name !== "role") return;
    try {
      await api.memberRole(projectId, Number(row.dataset.member), event.target.value);
    } catch (error) {
      $(members, ".member-error").textContent = error.message;
    }
    loadMembers();
  });
  members.addEventListener("click", async (event) => {
    const row = event.target.closest("[data-member]");
    if (!row || event.target.dataset.act !== "remove-member") return;
    try {
      await api.memberRemove(projectId, Number(row.dataset.member));
    } catch (error) {
      $(members, ".member-error").textContent = error.message;
    }
    loadMembers();
  });
  members.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await api.memberAdd(projectId, form.username.value, form.role.value);
      await loadMembers();
    } catch (error) {
      $(members, ".member-error").textContent = error.message;
    }
  });
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
  await Promise.all([loadStats(), loadMembers(), loadModels(), loadQuality()]);
  document.title = `${project.name} · IR label`;
  return () => watcher.stop();
}
