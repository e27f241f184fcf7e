// The dashboard's model versions: each with its settings, metrics, gate reason and training curve; promote and
// retire (managers).
import { api } from "../api.js";
import { $, escapeHtml } from "../dom.js";
import { curveChart } from "./charts.js";

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
      const touching = p.gaps === false ? ' <span class="metric">targets may touch</span>' : "";
      return `<div class="model" data-model="${m.id}"><h4>${m.project_id ? `v${m.number}` : "base"} · ${escapeHtml(m.arch)}
        <span class="badge">${escapeHtml(m.status)}</span>
        ${manage && m.project_id && m.status === "candidate" ? '<button data-act="promote">Promote</button>' : ""}
        ${manage && m.project_id && m.status === "promoted" ? '<button data-act="retire">Retire</button>' : ""}</h4><div>${settings}${touching} ${metrics || (settings ? "" : '<span class="muted">no metrics</span>')}</div>${gate}
        ${m.curve && m.curve.length ? curveChart(m.curve) : ""}</div>`;
    })
    .join("");
}

/** Wire the model list; returns load(). Action failures go to `showError`. */
export function modelsPanel(root, projectId, manage, showError) {
  const list = $(root, ".model-list");
  async function load() {
    list.innerHTML = modelRows(await api.modelVersions(projectId), manage);
  }
  list.addEventListener("click", async (event) => {
    const act = event.target.dataset.act;
    if (act !== "promote" && act !== "retire") return;
    const id = Number(event.target.closest("[data-model]").dataset.model);
    try {
      showError(null);
      await (act === "promote" ? api.modelPromote(id) : api.modelRetire(id));
      await load();
    } catch (error) {
      showError(error);
    }
  });
  return load;
}
