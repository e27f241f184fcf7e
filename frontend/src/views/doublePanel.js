// Double annotation in the labeler (services.double): a frame labelled twice, blind. An annotator on the second
// pass is told so (the first pass is not shown to them); a reviewer reads both passes and their agreement, and
// draws the first pass (white outlines, hollow squares) over the second with D.
import { api } from "../api.js";
import { escapeHtml } from "../dom.js";
import { imageToScreen } from "../geometry.js";
import { decodeRle } from "../rle.js";

const pct = (v) => (v == null ? "–" : v.toFixed(1));

/** The first pass's outline as pixel-boundary segments [x0, y0, x1, y1] (image coordinates), built once: drawn as
 * lines between pixels, it stays apart from the mask layer's own (pixel) outlines and from bright targets. */
function outlineSegments(masks, width, height) {
  const union = new Uint8Array(width * height);
  for (const counts of masks) if (counts) decodeRle({ size: [height, width], counts }).forEach((v, i) => (union[i] |= v));
  const inside = (x, y) => x >= 0 && y >= 0 && x < width && y < height && union[y * width + x] === 1;
  const segments = [];
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      if (!inside(x, y)) continue;
      const [l, t, r, b] = [x - 0.5, y - 0.5, x + 0.5, y + 0.5]; // (0, 0) is the centre of the top-left pixel
      if (!inside(x - 1, y)) segments.push([l, t, l, b]);
      if (!inside(x + 1, y)) segments.push([r, t, r, b]);
      if (!inside(x, y - 1)) segments.push([l, t, r, t]);
      if (!inside(x, y + 1)) segments.push([l, b, r, b]);
    }
  }
  return segments;
}

/** Stroke a path twice, dark under light, so it reads on any pixel. */
function haloStroke(ctx, path) {
  ctx.strokeStyle = "rgba(0, 0, 0, 0.85)";
  ctx.lineWidth = 3.5;
  ctx.stroke(path);
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1.5;
  ctx.stroke(path);
}

/** Mount the panel (nothing for a frame labelled once). Returns { keys } for the labeler's key map. */
export function doublePanel(root, { image, canReview, stage, width, height }) {
  if (!image.double) return { keys: {} };
  const section = document.createElement("section");
  section.className = "double-annotation";
  root.querySelector(".panel .image-info").after(section);
  if (image.double === "second_pass" || !canReview) {
    section.innerHTML = `<h4>Labelled twice</h4><p class="muted">${
      image.double === "second_pass"
        ? "This is the second, blind pass: another annotator labelled this frame and their labels are kept aside for the reviewer. Label it as you see it. (Whoever made the first pass cannot make this one.)"
        : "This frame was labelled by two annotators, blind; a reviewer compares the passes."
    }</p>`;
    return { keys: {} };
  }
  let first = null;
  let segments = [];
  let shown = false;
  section.innerHTML = `<h4>Labelled twice</h4><div class="double-body muted">Loading both passes…</div>`;
  stage.layers.push((ctx, view) => {
    if (!shown || !first) return;
    const path = new Path2D();
    for (const [x0, y0, x1, y1] of segments) {
      const a = imageToScreen(view, x0, y0);
      const b = imageToScreen(view, x1, y1);
      path.moveTo(a.x, a.y);
      path.lineTo(b.x, b.y);
    }
    for (const [x, y] of first.points) {
      const p = imageToScreen(view, x, y);
      path.rect(p.x - 5, p.y - 5, 10, 10);
    }
    ctx.save();
    haloStroke(ctx, path);
    ctx.restore();
  });
  function toggle(force) {
    if (!first) return;
    shown = force ?? !shown;
    const box = section.querySelector("input[name=show-first-pass]");
    if (box) box.checked = shown;
    stage.canvas.dataset.firstPass = shown ? "shown" : "hidden";
    stage.draw();
  }
  api
    .double(image.id)
    .then((double) => {
      first = double.passes.find((p) => p.blind_pass === 1);
      segments = outlineSegments(first.masks, width, height);
      const rows = double.passes
        .map(
          (p) => `<tr><td>${p.blind_pass === 1 ? "first" : "second"}</td><td>${escapeHtml(p.annotator ?? "deleted user")}</td>
          <td class="num">${p.points.length}</td><td class="num">${p.seconds == null ? "–" : `${Math.round(p.seconds)} s`}</td></tr>`,
        )
        .join("");
      const a = double.agreement;
      section.querySelector(".double-body").className = "double-body";
      section.querySelector(".double-body").innerHTML = `<table class="qa"><thead><tr><th>pass</th><th>annotator</th><th>points</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>
        ${a ? `<p class="agreement" data-iou="${a.iou}">Agreement (second pass against the first): IoU <b>${pct(a.iou)}</b>, Pd ${pct(a.pd)}, ${a.false_targets} extra targets</p>` : '<p class="muted">The second pass is not in yet.</p>'}
        <label><input type="checkbox" name="show-first-pass"> Show the first pass (D): outlines between pixels, hollow squares</label>`;
      section.querySelector("input[name=show-first-pass]").addEventListener("change", (event) => toggle(event.target.checked));
    })
    .catch((error) => {
      section.querySelector(".double-body").textContent = error.message;
    });
  return { keys: { "toggle-first-pass": () => toggle() } };
}
