// The labeling screen: canvas with tools, display controls, targets and warnings, save/submit/review, shortcuts.
import { api } from "../api.js";
import { BrushTool } from "../canvas/brushTool.js";
import { MaskLayer } from "../canvas/maskLayer.js";
import { PointTool, drawPoints } from "../canvas/pointTool.js";
import { Stage } from "../canvas/stage.js";
import { WindowedImage } from "../canvas/windowedImage.js";
import { COLORMAP_NAMES } from "../display.js";
import { $, can } from "../dom.js";
import { MAX_SCALE, centreOn, imageToScreen } from "../geometry.js";
import { loadPrefs } from "../prefs.js";
import { LabelSession } from "../session.js";
import { helpOverlay } from "./help.js";
import { carryView, pixelsFor, preloadNext, takeView } from "./preload.js";
import { followStatus } from "./statusBadge.js";
import { bindShortcuts, returnFocus } from "./shortcuts.js";
import { sequencePanel } from "./sequencePanel.js";
import { doublePanel } from "./doublePanel.js";
import { mountSuggestions } from "./suggestions.js";
import { displayPanel } from "./displayPanel.js";
import { readout } from "./readout.js";
import { statusLine } from "./statusLine.js";
import { toolsPanel } from "./toolsPanel.js";
import { targetPanel } from "./targetPanel.js";
import { workflowPanel } from "./workflowPanel.js";
import { WINDOW_CONTROLS } from "./windowLevel.js";

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
      ${WINDOW_CONTROLS}
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

export async function showLabeler(root, imageId, me, params) {
  const image = claimed && claimed.id === imageId ? claimed : await api.image(imageId);
  claimed = null;
  // Everything the screen needs, in parallel: one round trip after the image row.
  const [project, pixels, targets, masks] = await Promise.all([
    api.project(image.project_id),
    pixelsFor(imageId),
    api.targets(imageId),
    api.masks(imageId),
  ]);
  root.classList.add("full");
  root.innerHTML = TEMPLATE;
  const help = helpOverlay();
  root.append(help);
  const canAnnotate = can(project.role, "annotator");
  const canReview = can(project.role, "reviewer");
  // The project's "reviewer != annotator" rule: whoever annotated the image is not offered Confirm or a mask's
  // accept/reject (the API refuses them anyway, with the reason).
  const ownWork = () =>
    Boolean(project.separate_reviewer && me && [image.submitted_by_id, image.assigned_to_id].includes(me.id));
  const prefs = loadPrefs(project.id);

  const canvas = $(root, "canvas.stage");
  const stage = new Stage(canvas);
  const maskLayer = new MaskLayer();
  maskLayer.resize(pixels.width, pixels.height);
  maskLayer.mode = prefs.maskMode;
  maskLayer.opacity = prefs.opacity;
  const frame = new WindowedImage(pixels);

  const session = new LabelSession(image, (what) => onSession(what));
  const options = { snap: false, pixels, tightness: null, brushSize: 1 };
  const pointTool = new PointTool(stage, session, options);
  const brushTool = new BrushTool(stage, session, options, () => refreshMasks());
  stage.layers.push((ctx, view, visible) => maskLayer.draw(ctx, view, visible));
  stage.layers.push((ctx, view) => drawPoints(ctx, view, session));

  // --- display ------------------------------------------------------------------------------------
  const displayControls = displayPanel(root, {
    frame,
    pixels,
    prefs,
    projectId: project.id,
    maskLayer,
    stage,
    onMasksChanged: () => refreshMasks(),
  });
  const { render: renderImage, auto: autoContrast } = displayControls;
  returnFocus(root, canvas);
  const toggleLoupe = readout(root, stage, canvas, pixels);

  // --- session events -----------------------------------------------------------------------------
  function refreshMasks() {
    maskLayer.rebuild(session.masks.values(), session.selected ? session.selected.id : null);
    stage.draw();
  }
  let closed = false;
  const followTargets = followStatus(root, image, () => closed);
  function onSession(what) {
    if (closed) return; // requests that finish after leaving the screen change nothing on the page
    if (what === "targets") followTargets(session.targets);
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
  const { renderStatus, renderHistory } = statusLine(root, session, canvas);
  const renderPanel = targetPanel(root, session, {
    canReview: () => canReview && !ownWork(),
    canAnnotate,
    defaultAlpha: project.settings?.generator?.alpha ?? 0.35,
    onSelect: () => refreshMasks(),
    onJump: (target) => jumpTo(target),
    decide: acknowledge,
  });
  function renderTargets() {
    renderPanel();
    canvas.dataset.targets = String(session.targets.length);
  }

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
  /** The reviewer decides on a mask that misses its own point: the server's message, then OK or Cancel. */
  function acknowledge(message) {
    return window.confirm(`${message}\n\nConfirm anyway?`);
  }
  function leave(nextImage, claimedImage) {
    claimed = claimedImage || null;
    carryView(nextImage.id, pixels.width, pixels.height, stage.view);
    location.hash = `#/i/${nextImage.id}`;
  }
  const imageFlow = workflowPanel(root, {
    image,
    project,
    session,
    canAnnotate,
    canReview,
    ownWork,
    acknowledge,
    leave,
  });

  // --- tools and actions --------------------------------------------------------------------------
  const { setTool, setBrush } = toolsPanel(root, { stage, canvas, pointTool, brushTool, options, canAnnotate });
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
    else if (["submit", "confirm", "reject-image", "next", "next-review"].includes(name)) imageFlow.run(name);
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

  const selectedTarget = () => session.selected && session.targetById(session.selected.id);
  const stepTarget = (delta) => {
    const n = session.targets.length;
    if (!n) return;
    const index = selectedTarget() ? session.targets.indexOf(selectedTarget()) : -1;
    jumpTo(session.targets[(index + delta + n) % n]);
  };
  const review = (accept) =>
    canReview && !ownWork() && selectedTarget() && session.review(selectedTarget().ref, accept, "", acknowledge);
  // Suggested targets (issue 18 item 7) and a sequence's carried points (issue 20): their own modules.
  const suggestions = mountSuggestions(root, { stage, session, image, canAnnotate });
  const frames = sequencePanel(root, { image, canAnnotate, suggestions, hasTargets: targets.length > 0, leave });
  const passes = doublePanel(root, { image, canReview, stage, width: pixels.width, height: pixels.height });
  const unbindKeys = bindShortcuts(
    {
      help: () => (help.hidden = !help.hidden),
      "close-help": () => (help.hidden = true),
      "tool-point": () => setTool("point"),
      "tool-brush": () => setTool("brush"),
      "tool-eraser": () => setTool("eraser"),
      "tool-fill": () => setTool("fill"),
      "brush-smaller": () => setBrush(options.brushSize - 1),
      "brush-bigger": () => setBrush(options.brushSize + 1),
      delete: () => canAnnotate && selectedTarget() && session.remove(selectedTarget().ref),
      "next-target": () => stepTarget(1),
      "previous-target": () => stepTarget(-1),
      accept: () => review(true),
      reject: () => review(false),
      "next-warning": nextWarning,
      "toggle-loupe": () => toggleLoupe(),
      ...displayControls.keys,
      ...frames.keys,
      ...passes.keys,
      next: () => canAnnotate && act("next"),
      undo: () => act("undo"),
      redo: () => act("redo"),
      save: () => act("save"),
      submit: () => act("submit"),
    },
    (held) => {
      stage.spaceDown = held;
    },
  );

  // Tests and bench/ui.py read the drawn state through this handle.
  const handle = { stage, session, maskLayer, imageToScreen, MAX_SCALE, pixels, image, suggestions };
  window.__irlabel = handle;
  setTool(canAnnotate ? "point" : "view");
  renderImage();
  imageFlow.render();
  renderHistory();
  stage.setImageCanvas(frame.canvas, false);
  const kept = takeView(image.id, pixels.width, pixels.height); // moved on to a frame of the same size
  if (kept) stage.setView(kept);
  session.loadFrom(targets, masks);
  const wanted = Number(params && params.get("target")); // opened from the review gallery: that target, centred
  if (wanted && session.targetById(wanted)) jumpTo(session.targetById(wanted));
  stage.draw();
  handle.readyAt = performance.now();
  canvas.dataset.ready = "1";
  canvas.focus();
  document.title = `${image.original_name} · ${project.name}`;
  preloadNext(project.id, image.id, { annotate: canAnnotate, review: canReview })
    .then((ids) => !closed && (canvas.dataset.preloaded = ids.join(",")))
    .catch(() => {}); // only a head start: "next" fetches what was not preloaded
  return () => {
    closed = true;
    unbindKeys();
    suggestions.close();
    if (window.__irlabel === handle) delete window.__irlabel;
  };
}
