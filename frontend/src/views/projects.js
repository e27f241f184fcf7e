// The project list, with a form to create one (the creator becomes its owner).
import { api } from "../api.js";
import { $, can, escapeHtml } from "../dom.js";

export async function showProjects(root, me) {
  const projects = await api.projects();
  const rows = projects
    .map(
      (p) => `<li class="card" data-project="${p.id}"><a href="#/p/${p.id}">${escapeHtml(p.name)}</a>
      <span class="role">${escapeHtml(p.role)}</span><p class="muted">${escapeHtml(p.description)}</p>
      <a href="#/p/${p.id}/images">Images</a></li>`,
    )
    .join("");
  const team = projects.some((p) => can(p.role, "manager")) ? '<a class="button team-link" href="#/team">Team</a>' : "";
  root.innerHTML = `<section class="projects-view"><h2>Projects ${team}</h2>
    <ul class="projects cards">${rows || '<li class="muted">No projects yet: create one below.</li>'}</ul>
    <form class="create-project inline-form"><h3>New project</h3>
      <input name="name" placeholder="Project name" required maxlength="200">
      <input name="description" placeholder="Description (optional)">
      <button type="submit">Create project</button><span class="error" role="alert"></span></form></section>`;
  const form = $(root, ".create-project");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const project = await api.projectCreate({ name: form.name.value, description: form.description.value });
      location.hash = `#/p/${project.id}`;
    } catch (error) {
      $(form, ".error").textContent = error.message;
    }
  });
  document.title = `Projects · IR label (${me.username})`;
  return null;
}
