// The image's status badge, kept current while labeling: the server makes a new image "in progress" with its
// first target, and the badge must say so without a reload.
import { api } from "../api.js";
import { statusLabel } from "../dom.js";

export function statusBadge(status) {
  return `<span class="badge status-${status}" data-status="${status}">${statusLabel(status)}</span>`;
}

/** Returns follow(), to call on every change of the targets: once a new target is stored on a "new" image, the
 * image row is read again (status and version) and the badge under `root` redrawn. */
export function followStatus(root, image, isClosed) {
  let stored = null; // targets the server holds, as last seen
  return (targets) => {
    const now = targets.filter((t) => t.ref.id && !t.pending).length;
    const added = stored !== null && now > stored;
    stored = now;
    if (!added || image.status !== "new") return;
    api
      .image(image.id)
      .then((row) => {
        if (isClosed()) return;
        Object.assign(image, row);
        const badge = root.querySelector(".image-info [data-status]");
        if (badge) badge.outerHTML = statusBadge(image.status);
      })
      .catch(() => {}); // the badge stays as it was; the next change asks again
  };
}
