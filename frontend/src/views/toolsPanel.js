// The labeler's tool bar: point / brush / eraser / fill, brush size and snap-to-peak. Viewers get no tool.
import { $, $$ } from "../dom.js";

/** Wire the tool inputs; returns { setTool(name), setBrush(size) } for the buttons and the shortcuts. */
export function toolsPanel(root, { stage, canvas, pointTool, brushTool, options, canAnnotate }) {
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
  function setBrush(size) {
    options.brushSize = Math.min(25, Math.max(1, size));
    $(root, "[name=brush]").value = options.brushSize;
  }
  $(root, "[name=brush]").addEventListener("input", (event) => {
    options.brushSize = Math.max(1, Number(event.target.value) || 1);
  });
  $(root, "[name=snap]").addEventListener("change", (event) => {
    options.snap = event.target.checked;
  });
  return { setTool, setBrush };
}
