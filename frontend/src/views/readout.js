// Under the cursor: the pixel's position and raw value, and the loupe when it is on; the zoom level.
import { drawLoupe } from "../canvas/loupe.js";
import { $ } from "../dom.js";

/** Wire the stage's hover and view callbacks; returns toggleLoupe(). */
export function readout(root, stage, canvas, pixels) {
  let loupeOn = false;
  let hover = null;
  const text = $(root, ".readout");
  const loupe = $(root, "canvas.loupe");
  stage.onViewChange = (view) => {
    $(root, ".zoom").textContent = `${Math.round(view.scale * 100)}%`;
    canvas.dataset.scale = String(view.scale);
  };
  stage.onHover = (pos) => {
    hover = pos;
    const col = Math.round(pos.x);
    const row = Math.round(pos.y);
    text.textContent =
      col >= 0 && row >= 0 && col < pixels.width && row < pixels.height
        ? `x ${pos.x.toFixed(2)}  y ${pos.y.toFixed(2)}  value ${pixels.data[row * pixels.width + col]}`
        : "";
    if (loupeOn) drawLoupe(loupe, stage, hover);
  };
  return () => {
    loupeOn = !loupeOn;
    loupe.hidden = !loupeOn;
  };
}
