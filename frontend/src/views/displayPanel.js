// The labeler's display controls: window/level (numbers, sliders, right-drag), invert, colormap, and how masks are
// drawn (shown or hidden, outline or fill, opacity). Choices are saved per project (prefs.js).
import { COLORMAP_NAMES } from "../display.js";
import { $ } from "../dom.js";
import { centreOn } from "../geometry.js";
import { savePrefs } from "../prefs.js";
import { windowLevel } from "./windowLevel.js";

/** Wire the panel; returns { render, set(change), auto(), toggleMasks(on), keys }. `onMasksChanged` redraws the
 * masks after their mode or opacity changed; `keys` are the view's shortcut actions (zoom, grid, colours, masks). */
export function displayPanel(root, { frame, pixels, prefs, projectId, maskLayer, stage, onMasksChanged }) {
  const form = $(root, ".display");
  const canvas = stage.canvas;

  function render() {
    const { lo, hi } = frame.windowFor(prefs);
    frame.render(lo, hi, prefs.invert, prefs.colormap);
    windowControls.show(lo, hi);
    form.querySelector("[name=invert]").checked = prefs.invert;
    form.querySelector("[name=colormap]").value = prefs.colormap;
    form.querySelector("[name=maskMode]").value = maskLayer.mode;
    form.querySelector("[name=opacity]").value = maskLayer.opacity;
    canvas.dataset.window = `${lo},${hi}`;
    stage.requestDraw();
  }
  function set(change) {
    Object.assign(prefs, change);
    savePrefs(projectId, prefs);
    render();
  }
  function toggleMasks(on = !maskLayer.visible) {
    maskLayer.visible = on;
    form.querySelector("[name=masks]").checked = on;
    stage.requestDraw();
  }

  const windowControls = windowLevel(form, pixels, ({ lo, hi }) => set({ mode: "manual", lo, hi }));
  stage.onWindowDrag = windowControls.drag;
  form.addEventListener("input", (event) => {
    const { name } = event.target;
    if (name === "invert") set({ invert: event.target.checked });
    else if (name === "colormap") set({ colormap: event.target.value });
    else if (name === "masks") toggleMasks(event.target.checked);
    else if (name === "maskMode" || name === "opacity") {
      maskLayer.mode = form.querySelector("[name=maskMode]").value;
      maskLayer.opacity = Number(form.querySelector("[name=opacity]").value);
      set({ maskMode: maskLayer.mode, opacity: maskLayer.opacity });
      onMasksChanged();
    }
  });

  const auto = () => set({ mode: "auto" });
  const keys = {
    "toggle-masks": () => toggleMasks(),
    "toggle-mask-mode": () => {
      maskLayer.mode = maskLayer.mode === "fill" ? "outline" : "fill";
      set({ maskMode: maskLayer.mode });
      onMasksChanged();
    },
    "toggle-grid": () => {
      stage.showGrid = !stage.showGrid;
      stage.requestDraw();
    },
    fit: () => stage.fit(),
    "zoom-100": () =>
      stage.setView(centreOn(stage.cssWidth, stage.cssHeight, pixels.width / 2 - 0.5, pixels.height / 2 - 0.5, 1)),
    "zoom-in": () => stage.zoomBy(2),
    "zoom-out": () => stage.zoomBy(0.5),
    auto,
    invert: () => set({ invert: !prefs.invert }),
    "next-colormap": () =>
      set({ colormap: COLORMAP_NAMES[(COLORMAP_NAMES.indexOf(prefs.colormap) + 1) % COLORMAP_NAMES.length] }),
  };
  return { render, set, auto, toggleMasks, keys };
}
