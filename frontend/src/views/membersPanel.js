// The dashboard's members: roles (managers change them, only owners touch owners), remove, add by user name.
import { api } from "../api.js";
import { $, escapeHtml } from "../dom.js";

const ROLES = ["viewer", "annotator", "reviewer", "manager", "owner"];

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

/** Wire the member list; returns load(). */
export function membersPanel(root, projectId, manage, myId) {
  const members = $(root, ".member-list");
  async function load() {
    members.innerHTML = memberRows(await api.members(projectId), manage, myId);
  }
  const failed = (error) => {
    $(members, ".member-error").textContent = error.message;
  };
  members.addEventListener("change", async (event) => {
    const row = event.target.closest("[data-member]");
    if (!row || event.target.name !== "role") return;
    try {
      await api.memberRole(projectId, Number(row.dataset.member), event.target.value);
    } catch (error) {
      failed(error);
    }
    load();
  });
  members.addEventListener("click", async (event) => {
    const row = event.target.closest("[data-member]");
    if (!row || event.target.dataset.act !== "remove-member") return;
    try {
      await api.memberRemove(projectId, Number(row.dataset.member));
    } catch (error) {
      failed(error);
    }
    load();
  });
  members.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await api.memberAdd(projectId, form.username.value, form.role.value);
      await load();
    } catch (error) {
      failed(error);
    }
  });
  return load;
}
