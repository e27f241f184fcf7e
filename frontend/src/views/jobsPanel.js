// The dashboard's jobs card: export form, pre-label / propose / train buttons, live job list with cancel and
// download. Errors of any card's action show in the card's error line.
import { api } from "../api.js";
import { $, escapeHtml } from "../dom.js";
import { isActive, watchJobs } from "../jobs.js";

const LONG_KINDS = ["prelabel", "detect", "rank", "train", "import", "export", "calibrate"]; // per-click and per-frame jobs are not listed

export const JOBS_CARD = (manage) => `<section class="card jobs-card"><h3>Jobs</h3>
  ${manage ? `<form class="export-form inline-form"><label class="check"><input type="checkbox" name="sirst" checked> SIRST</label>
    <label class="check"><input type="checkbox" name="coco" checked> COCO</label>
    <label class="check"><input type="checkbox" name="instances"> instance PNGs</label>
    <label class="check"><input type="checkbox" name="confirmed_only"> confirmed only</label>
    <button class="export primary">Export</button></form>
    <div class="toolbar"><button data-act="prelabel" title="Regenerates the machine masks of unconfirmed images that already have points">Pre-label images</button>
    <button data-act="suggest" title="Runs a detector on unconfirmed frames without points">Propose targets</button>
    <button data-act="rank" title="Scores how unsure the generators are about every unconfirmed frame (the active claim order)">Rank frames</button>
    <button data-act="train">Train a model now</button></div>
    <p class="muted hint prelabel-hint">Pre-label makes masks only for the points already placed (images without points are left as they are).
    Propose targets runs a local-contrast detector on unconfirmed frames without points: its candidates appear in the labeler
    as suggestions (yellow diamonds) to accept or delete with one key; they are not labels until accepted.
    Rank frames scores how unsure the generators are about each unconfirmed frame; with "least sure first", the next image is the least sure one.</p>` : ""}
  <p class="error job-error" role="alert"></p><div class="job-list"></div></section>`;

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

/** Wire the jobs card; `onFinished` runs when the last active job ends (counts, models and quality may have
 * changed). Returns { poke, stop, error } (error(e) shows an action's failure in the card). */
export function jobsPanel(root, projectId, manage, onFinished) {
  let hadActive = false;
  const watcher = watchJobs(projectId, LONG_KINDS, (jobs) => {
    $(root, ".job-list").innerHTML = jobRows(jobs, manage);
    const active = jobs.some(isActive);
    if (hadActive && !active) onFinished();
    hadActive = active;
  });
  const error = (e) => {
    $(root, ".job-error").textContent = e ? e.message : "";
  };
  const exportForm = $(root, ".export-form");
  if (exportForm) {
    exportForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const formats = ["sirst", "coco", "instances"].filter((f) => exportForm[f].checked);
      try {
        error(null);
        await api.exportStart(projectId, { formats, confirmed_only: exportForm.confirmed_only.checked });
        watcher.poke();
      } catch (e) {
        error(e);
      }
    });
  }
  $(root, ".jobs-card").addEventListener("click", async (event) => {
    const act = event.target.dataset.act;
    if (!act) return;
    try {
      error(null);
      if (act === "prelabel") await api.prelabel(projectId);
      else if (act === "suggest") await api.projectSuggest(projectId);
      else if (act === "rank") await api.rank(projectId);
      else if (act === "train") await api.train(projectId);
      else if (act === "cancel-job") await api.jobCancel(Number(event.target.closest("[data-job]").dataset.job));
      watcher.poke();
    } catch (e) {
      error(e);
    }
  });
  return { poke: () => watcher.poke(), stop: () => watcher.stop(), error };
}
