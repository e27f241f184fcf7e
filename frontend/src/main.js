// Bootstrap and routing: #/ projects, #/p/<id> dashboard, #/p/<id>/images list, #/p/<id>/gallery review gallery,
// #/i/<id>[?target=<id>] labeling canvas,
// #/team[?project=<id>] people and roles (managers).
import { api } from "./api.js";
import { showDashboard } from "./views/dashboard.js";
import { showGallery } from "./views/gallery.js";
import { showImages } from "./views/images.js";
import { showLabeler } from "./views/labeler.js";
import { showProjects } from "./views/projects.js";
import { showTeam } from "./views/team.js";

const app = document.getElementById("app");
let cleanup = null;
let me = null;
let current = 0;

/** Each route renders into its own element: a slow, superseded route can never draw over a newer one. */
async function route() {
  const token = ++current;
  if (cleanup) cleanup();
  cleanup = null;
  const root = document.createElement("div");
  root.className = "view";
  app.replaceChildren(root);
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean);
  let done = null;
  try {
    me = me || (await api.me());
    if (parts[0] === "p" && parts[2] === "images") done = await showImages(root, Number(parts[1]), params);
    else if (parts[0] === "p" && parts[2] === "gallery") done = await showGallery(root, Number(parts[1]), params);
    else if (parts[0] === "p") done = await showDashboard(root, Number(parts[1]), me);
    else if (parts[0] === "i") done = await showLabeler(root, Number(parts[1]), me, params);
    else if (parts[0] === "team") done = await showTeam(root, me, params);
    else done = await showProjects(root, me);
  } catch (error) {
    root.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `Could not load this page: ${error.message}`;
    root.append(p);
  }
  if (token !== current) {
    if (done) done(); // superseded while loading: release its listeners and timers
  } else {
    cleanup = done;
  }
}

window.addEventListener("hashchange", route);
route();
