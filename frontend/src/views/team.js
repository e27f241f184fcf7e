// The team (managers and owners): who is in which of my projects with which role; invite someone (a one-time link
// to pass on), reset a password (a new link; the old password stops working), deactivate and reactivate.
import { api } from "../api.js";
import { $, can, escapeHtml } from "../dom.js";

const ROLES = ["viewer", "annotator", "reviewer", "manager", "owner"];
const STATUS_TEXT = { active: "active", invited: "invited (no password yet)", deactivated: "deactivated" };

/** The roles I may grant in a project: up to manager, and owner only where I am owner. */
function grantable(myRole) {
  return ROLES.filter((r) => r !== "owner" || myRole === "owner");
}

function roleCell(membership, myRoles, self) {
  const mine = myRoles.get(membership.project_id);
  const editable = !self && can(mine, "manager") && (membership.role !== "owner" || mine === "owner");
  const name = `<a href="#/p/${membership.project_id}">${escapeHtml(membership.project_name)}</a>`;
  if (!editable) return `<li data-membership="${membership.id}">${name} <span class="member-role">${escapeHtml(membership.role)}</span></li>`;
  const options = grantable(mine)
    .map((r) => `<option ${r === membership.role ? "selected" : ""}>${r}</option>`)
    .join("");
  return `<li data-membership="${membership.id}" data-project="${membership.project_id}">${name}
    <select name="role" aria-label="role in ${escapeHtml(membership.project_name)}">${options}</select></li>`;
}

function personRow(person, myRoles, meId) {
  const lastSeen = person.last_login ? new Date(person.last_login).toLocaleString() : "never";
  const actions = person.manage_denial
    ? `<span class="muted" title="${escapeHtml(person.manage_denial)}">${person.id === meId ? "you" : "not yours to manage"}</span>`
    : `<button data-act="reset">${person.status === "invited" ? "New invitation link" : "Reset password"}</button>
       <button data-act="${person.is_active ? "deactivate" : "reactivate"}">${person.is_active ? "Deactivate" : "Reactivate"}</button>`;
  return `<tr data-user="${person.id}" data-username="${escapeHtml(person.username)}" class="person status-${person.status}">
    <td><b>${escapeHtml(person.username)}</b>${person.is_admin ? ' <span class="badge">admin</span>' : ""}
      <div class="muted">${escapeHtml(person.email)}</div></td>
    <td><span class="badge person-status">${escapeHtml(STATUS_TEXT[person.status] || person.status)}</span></td>
    <td><ul class="person-projects">${person.memberships.map((m) => roleCell(m, myRoles, person.id === meId)).join("")}</ul></td>
    <td class="muted">${escapeHtml(lastSeen)}</td><td class="person-actions">${actions}</td></tr>`;
}

function linkPanel(result, why) {
  const until = new Date(result.expires_at).toLocaleString();
  return `<p>${escapeHtml(why)} Send this link to <b>${escapeHtml(result.user.username)}</b>: it opens once, until
    ${escapeHtml(until)}, and lets them choose their own password. It is shown only now.</p>
    <div class="inline-form"><input class="one-time-link" readonly value="${escapeHtml(result.link)}" size="60">
    <button type="button" data-act="copy">Copy</button></div>`;
}

export async function showTeam(root, me, params) {
  const projects = (await api.projects()).filter((p) => can(p.role, "manager"));
  const myRoles = new Map(projects.map((p) => [p.id, p.role]));
  const only = Number(params.get("project")) || null;
  const current = projects.find((p) => p.id === only);
  const projectOptions = (selected) =>
    projects.map((p) => `<option value="${p.id}" ${p.id === selected ? "selected" : ""}>${escapeHtml(p.name)}</option>`).join("");
  root.innerHTML = `<section class="team-view">
    <nav class="crumbs"><a href="#/">Projects</a> › ${current ? `<a href="#/p/${current.id}">${escapeHtml(current.name)}</a> › ` : ""}Team</nav>
    <h2>Team</h2>
    ${projects.length ? "" : '<p class="muted">You manage no project: only managers and owners see their team here.</p>'}
    <div class="grid">
      <form class="card invite-form" ${projects.length ? "" : "hidden"}><h3>Invite someone</h3>
        <div class="inline-form"><input name="username" placeholder="user name" required maxlength="150" autocomplete="off">
        <input name="email" type="email" placeholder="e-mail (optional)" maxlength="254">
        <select name="project" aria-label="project">${projectOptions(only || (projects[0] && projects[0].id))}</select>
        <select name="role" aria-label="role"></select><button class="primary" type="submit">Invite</button></div>
        <p class="error invite-error" role="alert"></p></form>
      <section class="card link-card" hidden><h3>One-time link</h3><div class="link-slot"></div></section>
    </div>
    <div class="inline-form team-filter"><label>Show <select name="filter"><option value="">all my projects</option>${projectOptions(only)}</select></label></div>
    <p class="team-notice muted" role="status"></p><p class="error team-error" role="alert"></p>
    <table class="team"><thead><tr><th>person</th><th>status</th><th>projects and roles</th><th>last sign-in</th><th></th></tr></thead>
      <tbody class="team-rows"></tbody></table></section>`;

  const form = $(root, ".invite-form");
  const teamError = (error) => {
    $(root, ".team-error").textContent = error ? error.message : "";
  };
  const notice = (text) => {
    $(root, ".team-notice").textContent = text;
  };
  function fillRoles() {
    const mine = myRoles.get(Number(form.project.value));
    form.role.innerHTML = grantable(mine)
      .map((r) => `<option ${r === "annotator" ? "selected" : ""}>${r}</option>`)
      .join("");
  }
  function showLink(result, why) {
    $(root, ".link-slot").innerHTML = linkPanel(result, why);
    $(root, ".link-card").hidden = false;
  }
  async function load() {
    const people = await api.users(only ? { project: only } : {});
    $(root, ".team-rows").innerHTML =
      people.map((p) => personRow(p, myRoles, me.id)).join("") || '<tr><td colspan="5" class="muted">Nobody yet.</td></tr>';
  }

  form.project.addEventListener("change", fillRoles);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $(form, ".invite-error").textContent = "";
    const projectId = Number(form.project.value);
    try {
      const result = await api.invite(projectId, { username: form.username.value, email: form.email.value, role: form.role.value });
      const project = projects.find((p) => p.id === projectId);
      showLink(result, `${result.user.username} is now ${form.role.value} in ${project ? project.name : "the project"}.`);
      form.reset();
      form.project.value = String(projectId);
      fillRoles();
      await load();
    } catch (error) {
      if (error.status === 409 && error.extra.exists) {
        $(form, ".invite-error").innerHTML = `${escapeHtml(error.message)} <button type="button" data-act="add-existing">Add ${escapeHtml(form.username.value)} as ${escapeHtml(form.role.value)}</button>`;
      } else {
        $(form, ".invite-error").textContent = error.message;
      }
    }
  });
  form.addEventListener("click", async (event) => {
    if (event.target.dataset.act !== "add-existing") return;
    try {
      await api.memberAdd(Number(form.project.value), form.username.value, form.role.value);
      $(form, ".invite-error").textContent = "";
      form.username.value = "";
      await load();
    } catch (error) {
      $(form, ".invite-error").textContent = error.message;
    }
  });
  $(root, ".link-card").addEventListener("click", async (event) => {
    if (event.target.dataset.act !== "copy") return;
    const input = $(root, ".one-time-link");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      event.target.textContent = "Copied";
    } catch {
      event.target.textContent = "Select and copy it";
    }
  });
  $(root, "select[name=filter]").addEventListener("change", (event) => {
    location.hash = event.target.value ? `#/team?project=${event.target.value}` : "#/team";
  });

  const rows = $(root, ".team-rows");
  rows.addEventListener("click", async (event) => {
    const act = event.target.dataset.act;
    const row = event.target.closest("[data-user]");
    if (!act || !row) return;
    const id = Number(row.dataset.user);
    const name = row.dataset.username;
    try {
      teamError(null);
      if (act === "reset") {
        if (!window.confirm(`Reset ${name}'s password? Their current password stops working now, and they are signed out.`)) return;
        showLink(await api.userPasswordReset(id), `${name}'s old password no longer works.`);
      } else if (act === "deactivate") {
        if (!window.confirm(`Deactivate ${name}? They are signed out and cannot sign in; their roles are kept.`)) return;
        const { released_images: released } = await api.userSetActive(id, false);
        notice(`${name} is deactivated.${released ? ` ${released} unfinished image(s) went back to the pool.` : ""}`);
      } else if (act === "reactivate") {
        await api.userSetActive(id, true);
        notice(`${name} is active again.`);
      }
      await load();
    } catch (error) {
      teamError(error);
    }
  });
  rows.addEventListener("change", async (event) => {
    const item = event.target.closest("[data-membership]");
    if (!item || event.target.name !== "role") return;
    try {
      teamError(null);
      await api.memberRole(Number(item.dataset.project), Number(item.dataset.membership), event.target.value);
      const row = item.closest("[data-user]");
      notice(`${row.dataset.username} is now ${event.target.value} in ${item.querySelector("a").textContent}.`);
    } catch (error) {
      teamError(error);
    }
    await load();
  });

  fillRoles();
  await load();
  document.title = `Team · IR label (${me.username})`;
  return null;
}
