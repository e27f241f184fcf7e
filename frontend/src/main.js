// Bootstrap and routing: #/ projects, #/p/<id> dashboard, #/p/<id>/images list, #/i/<id> labeling canvas.
import { api } from "./api.js";
import { showDashboard } from "./views/dashboard.js";
import { showImages } from "./views/images.js";
import { showLabeler } from "./views/labeler.js";
import { showProjects } from "./views/projects.js";

const root = document.getElementById("app");
let cleanup = null;
let me = null;

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean);
  root.className = "";
  try {
    me = me || (await api.me());
    if (parts[0] === "p" && parts[2] === "images") cleanup = await showImages(root, Number(parts[1]), params);
    else if (parts[0] === "p") cleanup = await showDashboard(root, Number(parts[1]), me);
    else if (parts[0] === "i") cleanup = await showLabeler(root, Number(parts[1]), me, params);
    else cleanup = await showProjects(root, me);
  } catch (error) {
    root.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `Could not load this page: ${error.message}`;
    root.append(p);
  }
}

window.addEventListener("hashchange", route);
route();
