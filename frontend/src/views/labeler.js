// The labeling screen: canvas with tools, display controls, targets and warnings, save/submit/review, shortcuts.
import { api } from "../api.js";
import { BrushTool } from "../canvas/brushTool.js";
import { MaskLayer } from "../canvas/maskLayer.js";
import { PointTool, drawPoints } from "../canvas/pointTool.js";
import { Stage } from "../canvas/stage.js";
import { COLORMAP_NAMES, buildLut, maxValueOf, percentiles, renderInto } from "../display.js";
import { $, $$, can, escapeHtml, statusLabel, typing } from "../dom.js";
import { MAX_SCALE, centreOn, imageToScreen } from "../geometry.js";
import { loadPrefs, savePrefs } from "../prefs.js";
import { LabelSession } from "../session.js";
import { helpOverlay } from "./help.js";
import { drawLoupe } from "../canvas/loupe.js";

const TEMPLATE = `<div class="labeler">
  <aside class="tools" aria-label="Tools">
    <button data-tool="point" title="Point tool (A)">Point</button>
    <button data-tool="brush" title="Brush (B)">Brush</button>
    <button data-tool="eraser" title="Eraser (E)">Eraser</button>
    <button data-tool="fill" title="Fill holes (F)">Fill</button>
    <label>Size <input type="number" name="brush" min="1" max="25" value="1"></label>
    <label class="check"><input type="checkbox" name="snap"> Snap to peak</label>
    <hr><button data-act="undo" title="Undo (Ctrl+Z)">Undo</button><button data-act="redo" title="Redo (Ctrl+Shift+Z)">Redo</button>
    <button data-act="save" title="Save mask edits (Ctrl+S)">Save</button>
    <button data-act="overwrite" hidden title="Save over the other person's version">Overwrite</button>
    <button data-act="reload" hidden title="Drop your unsaved edits">Reload</button>
    <hr><button data-act="fit" title="Fit (0)">Fit</button><span class="zoom">100%</span>
    <button data-act="help" title="Shortcuts (?)">?</button>
  </aside>
  <div class="stage-wrap"><canvas class="stage" tabindex="0"></canvas><canvas class="loupe" width="160" height="160" hidden></canvas>
    <div class="gen-status" aria-live="polite"></div><div class="readout"></div><div class="message" role="status"></div></div>
  <aside class="panel">
    <section class="image-info"></section>
    <section class="display"><h4>Display</h4>
      <label>Min <input type="range" name="lo"><output class="lo"></output></label>
      <label>Max <input type="range" name="hi"><output class="hi"></output></label>
      <div class="row"><button data-act="auto" title="Auto-contrast (C)">Auto</button>
      <label class="check"><input type="checkbox" name="invert"> Invert</label>
      <select name="colormap">${COLORMAP_NAMES.map((n) => `<option>${n}</option>`).join("")}</select></div>
      <div class="row"><label class="check"><input type="checkbox" name="masks" checked> Masks</label>
      <select name="maskMode"><option value="outline">outline</option><option value="fill">fill</option></select>
      <input type="range" name="opacity" min="0.1" max="1" step="0.05" title="Mask opacity"></div>
    </section>
    <section class="targets"><h4>Targets</h4><ol class="target-list"></ol></section>
    <section class="warnings"><h4>Warnings <button data-act="next-warning" title="Next warning (W)">next ▶</button></h4><ul class="warning-list"></ul></section>
    <section class="workflow"></section>
  </aside></div>`;

let claimed = null; // the image "next" just claimed: opening it needs no second fetch

export async function showLabeler(root, imageId, me) {
  const image = claimed && claimed.id === imageId ? claimed : await api.image(imageId);
  claimed = null;
  // Everything the screen needs, in parallel: one round trip after the image row.
  const [project, pixels, targets, masks] = await Promise.all([
    api.project(image.project_id),
    api.pixels(imageId),
    api.targets(imageId),
    api.masks(imageId),
  ]);
  root.classList.add("full");
  root.innerHTML = TEMPLATE;
  const help = helpOverlay();
  root.append(help);
  const canAnnotate = can(project.role, "annotator");
  const canReview = can(project.role, "reviewer");
  const prefs = loadPrefs(project.id);
  const maxValue = maxValueOf(pixels.dtype);
  const bitMax = Math.min(maxValue, 2 ** image.bit_depth - 1);

  const canvas = $(root, "canvas.stage");
  const stage = new Stage(canvas);
  const maskLayer = new MaskLayer();
  maskLayer.resize(pixels.width, pixels.height);
  maskLayer.mode = prefs.maskMode;
  maskLayer.opacity = prefs.opacity;
  const imageCanvas = document.createElement("canvas");
  imageCanvas.width = pixels.width;
  imageCanvas.height = pixels.height;
  const imageCtx = imageCanvas.getContext("2d");
  const imageData = imageCtx.createImageData(pixels.width, pixels.height);
  const out32 = new Uint32Array(imageData.data.buffer);

  const session = new LabelSession(image, (what) => onSession(what));
  const options = { snap: false, pixels, tightness: null, brushSize: 1 };
  const pointTool = new PointTool(stage, session, options);
  const brushTool = new BrushTool(stage, session, options, () => refreshMasks());
  let loupeOn = false;
  let hover = null;
  stage.layers.push((ctx, view, visible) => maskLayer.draw(ctx, view, visible));
  stage.layers.push((ctx, view) => drawPoints(ctx, view, session));

  // --- display ------------------------------------------------------------------------------------
  function window_() {
    if (prefs.mode === "auto") return percentiles(pixels.data, maxValue, prefs.pLow, prefs.pHigh);
    return { lo: prefs.lo, hi: prefs.hi };
  }
  function renderImage() {
    const { lo, hi } = window_();
    renderInto(out32, pixels.data, buildLut(maxValue, lo, hi, prefs.invert, prefs.colormap));
    imageCtx.putImageData(imageData, 0, 0);
    const form = $(root, ".display");
    Object.assign(form.querySelector("[name=lo]"), { min: 0, max: bitMax, value: lo });
    Object.assign(form.querySelector("[name=hi]"), { min: 0, max: bitMax, value: hi });
    $(form, "output.lo").textContent = lo;
    $(form, "output.hi").textContent = hi;
    form.querySelector("[name=invert]").checked = prefs.invert;
    form.querySelector("[name=colormap]").value = prefs.colormap;
    form.querySelector("[name=maskMode]").value = maskLayer.mode;
    form.querySelector("[name=opacity]").value = maskLayer.opacity;
    canvas.dataset.window = `${lo},${hi}`;
    stage.requestDraw();
  }
  function setPrefs(change) {
    Object.assign(prefs, change);
    savePrefs(project.id, prefs);
    renderImage();
  }
  function autoContrast() {
    setPrefs({ mode: "auto" });
  }
  const display = $(root, ".display");
  display.addEventListener("input", (event) => {
    const { name } = event.target;
    if (name === "lo" || name === "hi") {
      let lo = Number(display.querySelector("[name=lo]").value);
      let hi = Number(display.querySelector("[name=hi]").value);
      if (name === "lo") hi = Math.min(bitMax, Math.max(hi, lo + 1)); // the moved end pushes the other
      else lo = Math.max(0, Math.min(lo, hi - 1));
      setPrefs({ mode: "manual", lo: Math.min(lo, hi - 1), hi });
    } else if (name === "invert") setPrefs({ invert: event.target.checked });
    else if (name === "colormap") setPrefs({ colormap: event.target.value });
    else if (name === "masks") toggleMasks(event.target.checked);
    else if (name === "maskMode" || name === "opacity") {
      maskLayer.mode = display.querySelector("[name=maskMode]").value;
      maskLayer.opacity = Number(display.querySelector("[name=opacity]").value);
      setPrefs({ maskMode: maskLayer.mode, opacity: maskLayer.opacity });
      refreshMasks();
    }
  });

  // --- session events -----------------------------------------------------------------------------
  function refreshMasks() {
    maskLayer.rebuild(session.masks.values(), session.selected ? session.selected.id : null);
    stage.draw();
  }
  function toggleMasks(on = !maskLayer.visible) {
    maskLayer.visible = on;
    display.querySelector("[name=masks]").checked = on;
    stage.requestDraw();
  }
  let closed = false;
  function onSession(what) {
    if (closed) return; // requests that finish after leaving the screen change nothing on the page
    if (what === "masks" || what === "targets") {
      refreshMasks();
      renderTargets();
    }
    if (what === "status" || what === "masks") renderStatus();
    if (what === "conflict") {
      $(root, "[data-act=overwrite]").hidden = false;
      $(root, "[data-act=reload]").hidden = false;
    }
    if (what === "history") renderHistory();
  }
  function renderStatus() {
    const gen = $(root, ".gen-status");
    gen.classList.toggle("pending", session.pending > 0);
    gen.textContent =
      session.pending > 0 ? "generating masks…" : session.lastMaskMs != null
          ? `masks in ${Math.round(session.lastMaskMs)} ms` +
            (session.lastRequestMs != null ? ` (request ${Math.round(session.lastRequestMs)} ms)` : "")
          : "";
    canvas.dataset.pending = String(session.pending);
    canvas.dataset.masksApplied = String(session.masksApplied);
    $(root, ".message").textContent = session.message;
    const dirty = session.dirtyMasks().length;
    $(root, "[data-act=save]").textContent = dirty ? `Save (${dirty})` : "Save";
  }
  function renderHistory() {
    $(root, "[data-act=undo]").disabled = !session.history.done.length;
    $(root, "[data-act=redo]").disabled = !session.history.undone.length;
    renderStatus();
  }
  function renderTargets() {
    const list = $(root, ".target-list");
    list.innerHTML = session.targets
      .map((t, index) => {
        const mask = session.masks.get(t.ref.id);
        const meta = mask && mask.meta;
        const warnings = meta ? meta.warnings : [];
        const state = mask && mask.dirty ? "edited (unsaved)" : meta ? meta.state : t.pending ? "…" : "no mask";
        const selected = session.selected === t.ref ? " selected" : "";
        return `<li class="target${selected}" data-target="${t.ref.id}" data-index="${index}">
          <span class="idx">${index + 1}</span> <span class="xy">(${t.x.toFixed(2)}, ${t.y.toFixed(2)})</span>
          <span class="state state-${escapeHtml(state.split(" ")[0])}">${escapeHtml(state)}</span>
          ${meta ? `<span class="area">${meta.area} px</span>` : ""}
          ${warnings.map((w) => `<span class="badge warn">${escapeHtml(w)}</span>`).join("")}
          ${canReview && meta ? '<button data-act="accept" title="Accept (Y)">✓</button><button data-act="reject" title="Reject (X)">✗</button>' : ""}
          ${canAnnotate ? `<label class="tight" title="Tightness: the generator's alpha for this target (higher = tighter mask)">tightness <input type="range" min="0.05" max="0.95" step="0.05" value="${t.tightness ?? project.settings?.generator?.alpha ?? 0.35}"></label>` : ""}
        </li>`;
      })
      .join("");
    const warned = session.warnings();
    $(root, ".warning-list").innerHTML =
      warned
        .map(({ target, warnings }) => `<li data-target="${target.ref.id}">#${session.targets.indexOf(target) + 1}: ${warnings.map(escapeHtml).join(", ")}</li>`)
        .join("") || '<li class="muted">none</li>';
    canvas.dataset.targets = String(session.targets.length);
  }
  $(root, ".target-list").addEventListener("click", (event) => {
    const item = event.target.closest("[data-target]");
    if (!item) return;
    event.stopPropagation(); // the list is redrawn below: the root handler must not see a detached button
    const target = session.targetById(Number(item.dataset.target));
    if (!target) return;
    session.selected = target.ref;
    const act = event.target.dataset.act;
    if (act === "accept") session.review(target.ref, true);
    else if (act === "reject") session.review(target.ref, false, window.prompt("Why is this mask wrong? (optional)") || "");
    refreshMasks();
    renderTargets();
  });
  $(root, ".target-list").addEventListener("change", (event) => {
    const item = event.target.closest("[data-target]");
    if (item && event.target.type === "range") {
      const target = session.targetById(Number(item.dataset.target));
      if (target) session.setTightness(target.ref, Number(event.target.value));
    }
  });
  $(root, ".warning-list").addEventListener("click", (event) => {
    const item = event.target.closest("[data-target]");
    if (item) jumpTo(session.targetById(Number(item.dataset.target)));
  });

  function jumpTo(target) {
    if (!target) return;
    session.selected = target.ref;
    stage.setView(centreOn(stage.cssWidth, stage.cssHeight, target.x, target.y, Math.max(stage.view.scale, 16)));
    refreshMasks();
    renderTargets();
  }
  let warningIndex = -1;
  function nextWarning() {
    const warned = session.warnings();
    if (!warned.length) return session.say("No warnings on this image.");
    warningIndex = (warningIndex + 1) % warned.length;
    jumpTo(warned[warningIndex].target);
  }

  // --- workflow -----------------------------------------------------------------------------------
  function renderWorkflow() {
    const section = $(root, ".workflow");
    const reviewable = canReview && image.status === "submitted";
    section.innerHTML = `<h4>Image</h4>
      ${canAnnotate && ["new", "in_progress", "rejected"].includes(image.status) ? '<button data-act="submit" class="primary" title="Ctrl+Enter">Submit image</button>' : ""}
      ${canAnnotate ? '<button data-act="next" title="N">Next image ▶</button>' : ""}
      ${canReview ? '<button data-act="next-review" title="The next submitted image">Next to review ▶</button>' : ""}
      ${reviewable ? `<div class="review"><textarea name="comment" placeholder="Comment for the annotator (on reject)"></textarea>
        <button data-act="confirm" class="primary">Confirm image</button><button data-act="reject-image">Reject image</button></div>` : ""}`;
    $(root, ".image-info").innerHTML = `<nav class="crumbs"><a href="#/p/${project.id}">${escapeHtml(project.name)}</a> ›
      <a href="#/p/${project.id}/images">Images</a></nav><h3 title="${escapeHtml(image.original_name)}">${escapeHtml(image.original_name)}</h3>
      <p>${image.width}×${image.height} · ${image.bit_depth}-bit · <span class="badge status-${image.status}" data-status="${image.status}">${statusLabel(image.status)}</span></p>`;
  }
  async function workflow(act) {
    try {
      if (act === "submit") {
        if (session.dirtyMasks().length) await session.saveMasks();
        await session.idle();
        if (session.dirtyMasks().length) return;
        Object.assign(image, await api.submit(image.id));
        session.say("Submitted for review.");
      } else if (act === "confirm") {
        Object.assign(image, await api.confirm(image.id, image.version));
        session.say("Image confirmed.");
      } else if (act === "reject-image") {
        const comment = $(root, "[name=comment]").value;
        Object.assign(image, await api.reject(image.id, image.version, comment));
        session.say("Image rejected and sent back.");
      } else if (act === "next-review") {
        const page = await api.images(project.id, { status: "submitted", page_size: 2 });
        const nextImage = page.results.find((candidate) => candidate.id !== image.id);
        if (!nextImage) return session.say("The review queue is empty.");
        location.hash = `#/i/${nextImage.id}`;
        return;
      } else if (act === "next") {
        await session.idle();
        const nextImage = await api.claim(project.id);
        if (nextImage.id === image.id) return session.say("This is your unfinished image: submit it first.");
        claimed = nextImage;
        location.hash = `#/i/${nextImage.id}`;
        return;
      }
      renderWorkflow();
      await session.load();
    } catch (error) {
      session.say(error.status === 404 && act === "next" ? "No image is left to label." : error.message);
    }
  }

  // --- tools and actions --------------------------------------------------------------------------
  function setTool(name) {
    if (!canAnnotate) name = "view";
    if (name === "point" || name === "view") stage.tool = name === "point" ? pointTool : null;
    else {
      brushTool.mode = name;
      stage.tool = brushTool;
    }
    canvas.dataset.tool = name;
    $$(root, "[data-tool]").forEach((b) => b.classList.toggle("active", b.dataset.tool === name));
  }
  function act(name) {
    if (name === "undo") session.history.undo();
    else if (name === "redo") session.history.redo();
    else if (name === "save") session.saveMasks();
    else if (name === "overwrite") session.saveMasks({ overwrite: true });
    else if (name === "reload") session.load().then(() => session.masks.forEach((m) => (m.dirty = false)));
    else if (name === "fit") stage.fit();
    else if (name === "help") help.hidden = !help.hidden;
    else if (name === "auto") autoContrast();
    else if (name === "next-warning") nextWarning();
    else if (["submit", "confirm", "reject-image", "next", "next-review"].includes(name)) workflow(name);
    if (name === "overwrite" || name === "reload") {
      $(root, "[data-act=overwrite]").hidden = true;
      $(root, "[data-act=reload]").hidden = true;
    }
  }
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.closest(".target-list")) return;
    if (button.dataset.tool) setTool(button.dataset.tool);
    else if (button.dataset.act) act(button.dataset.act);
  });
  $(root, "[name=brush]").addEventListener("input", (event) => {
    options.brushSize = Math.max(1, Number(event.target.value) || 1);
  });
  $(root, "[name=snap]").addEventListener("change", (event) => {
    options.snap = event.target.checked;
  });

  function onKey(event) {
    if (typing(event)) return;
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    const selected = session.selected && session.targetById(session.selected.id);
    let handled = true;
    if (key === " ") stage.spaceDown = true;
    else if (ctrl && (key === "z" || key === "Z")) event.shiftKey ? act("redo") : act("undo");
    else if (ctrl && key === "y") act("redo");
    else if (ctrl && key === "s") act("save");
    else if (ctrl && key === "Enter") act("submit");
    else if (ctrl) handled = false;
    else if (key === "?") help.hidden = !help.hidden;
    else if (key === "Escape") help.hidden = true;
    else if (key === "a") setTool("point");
    else if (key === "b") setTool("brush");
    else if (key === "e") setTool("eraser");
    else if (key === "f") setTool("fill");
    else if (key === "[" || key === "]") {
      options.brushSize = Math.min(25, Math.max(1, options.brushSize + (key === "]" ? 1 : -1)));
      $(root, "[name=brush]").value = options.brushSize;
    } else if ((key === "Delete" || key === "Backspace") && selected && canAnnotate) session.remove(selected.ref);
    else if (key === "Tab") {
      const n = session.targets.length;
      if (n) {
        const index = selected ? session.targets.indexOf(selected) : -1;
        jumpTo(session.targets[(index + (event.shiftKey ? n - 1 : 1)) % n]);
      }
    } else if (key === "y" && selected && canReview) session.review(selected.ref, true);
    else if (key === "x" && selected && canReview) session.review(selected.ref, false);
    else if (key === "w") nextWarning();
    else if (key === "m") toggleMasks();
    else if (key === "o") {
      maskLayer.mode = maskLayer.mode === "fill" ? "outline" : "fill";
      setPrefs({ maskMode: maskLayer.mode });
      refreshMasks();
    } else if (key === "g") {
      stage.showGrid = !stage.showGrid;
      stage.requestDraw();
    } else if (key === "l") {
      loupeOn = !loupeOn;
      $(root, "canvas.loupe").hidden = !loupeOn;
    } else if (key === "0") stage.fit();
    else if (key === "1") stage.setView(centreOn(stage.cssWidth, stage.cssHeight, pixels.width / 2 - 0.5, pixels.height / 2 - 0.5, 1));
    else if (key === "+" || key === "=") stage.zoomBy(2);
    else if (key === "-") stage.zoomBy(0.5);
    else if (key === "c") autoContrast();
    else if (key === "i") setPrefs({ invert: !prefs.invert });
    else if (key === "k") setPrefs({ colormap: COLORMAP_NAMES[(COLORMAP_NAMES.indexOf(prefs.colormap) + 1) % COLORMAP_NAMES.length] });
    else if (key === "n" && canAnnotate) act("next");
    else handled = false;
    if (handled) event.preventDefault();
  }
  function onKeyUp(event) {
    if (event.key === " ") stage.spaceDown = false;
  }
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", onKeyUp);

  stage.onViewChange = (view) => {
    $(root, ".zoom").textContent = `${Math.round(view.scale * 100)}%`;
    canvas.dataset.scale = String(view.scale);
  };
  const readout = $(root, ".readout");
  stage.onHover = (pos) => {
    hover = pos;
    const col = Math.round(pos.x);
    const row = Math.round(pos.y);
    readout.textContent =
      col >= 0 && row >= 0 && col < pixels.width && row < pixels.height
        ? `x ${pos.x.toFixed(2)}  y ${pos.y.toFixed(2)}  value ${pixels.data[row * pixels.width + col]}`
        : "";
    if (loupeOn) drawLoupe($(root, "canvas.loupe"), stage, hover);
  };

  // Tests and bench/ui.py read the drawn state through this handle.
  const handle = { stage, session, maskLayer, imageToScreen, MAX_SCALE, pixels, image };
  window.__irlabel = handle;
  setTool(canAnnotate ? "point" : "view");
  renderImage();
  renderWorkflow();
  renderHistory();
  stage.setImageCanvas(imageCanvas, false);
  session.loadFrom(targets, masks);
  stage.draw();
  handle.readyAt = performance.now();
  canvas.dataset.ready = "1";
  canvas.focus();
  document.title = `${image.original_name} · ${project.name}`;
  return () => {
    closed = true;
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("keyup", onKeyUp);
    if (window.__irlabel === handle) delete window.__irlabel;
  };
}
