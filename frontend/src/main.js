// Bootstrap: list the user's projects (the labeling views arrive with the browser-app issue).
import { api } from "./api.js";

async function main() {
  const root = document.getElementById("app");
  try {
    const page = await api.projects();
    const items = (page.results || page).map((p) => `<li data-project="${p.id}">${escapeHtml(p.name)} · ${p.role}</li>`);
    root.innerHTML = `<h2>Projects</h2><ul class="projects">${items.join("") || "<li>No projects yet</li>"}</ul>`;
  } catch (error) {
    root.textContent = `Could not load projects: ${error.message}`;
  }
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

main();
