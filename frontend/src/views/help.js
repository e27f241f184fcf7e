// The keyboard shortcut overlay (toggled with ?).
export const SHORTCUTS = [
  ["A", "point tool: click adds a target, drag moves it, right-click (without a drag) deletes"],
  ["B / E / F", "brush / eraser / fill holes on the selected target's mask"],
  ["[ / ]", "brush size down / up (down to 1 pixel)"],
  ["Delete / Backspace", "delete the selected target"],
  ["Tab / Shift+Tab", "select the next / previous target"],
  ["Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y", "undo / redo (points and pixels)"],
  ["Ctrl+S", "save mask edits (version-checked)"],
  ["Y / X", "accept / reject the selected target's mask (reviewers)"],
  ["Y or A / X or Delete", "with a suggested target selected (yellow diamond): accept it as a target / delete it"],
  ["S / Shift+S · Shift+A", "next / previous suggested target · accept every suggested target"],
  ["W", "next warning: jump and zoom to it"],
  ["M", "show / hide masks"],
  ["O", "mask outline / fill"],
  ["G", "pixel grid on / off"],
  ["L", "magnifier loupe on / off"],
  ["0 / 1 / + / -", "fit / 100% / zoom in / zoom out (up to 3200%)"],
  ["Space + drag, middle drag, Shift+wheel", "pan; the wheel zooms at the cursor"],
  ["Right-drag / Alt+drag", "window / level: sideways = window width, up / down = level (or type them in)"],
  ["C", "auto-contrast (percentiles)"],
  ["I", "invert"],
  ["K", "next colour map"],
  ["Ctrl+Enter", "submit the image"],
  ["N", "next image (claims one)"],
  ["PageDown / PageUp", "next / previous frame of the sequence (same view); its points are carried as suggestions"],
  ["D", "show / hide the first pass of a frame labelled twice (reviewers)"],
  ["?", "this help"],
];

export function helpOverlay() {
  const overlay = document.createElement("div");
  overlay.className = "help-overlay";
  overlay.hidden = true;
  overlay.innerHTML = `<div class="help-box"><h3>Keyboard shortcuts</h3><table>${SHORTCUTS.map(
    ([keys, what]) => `<tr><th>${keys}</th><td>${what}</td></tr>`,
  ).join("")}</table><p class="muted">Press ? or Esc to close.</p></div>`;
  overlay.addEventListener("click", () => {
    overlay.hidden = true;
  });
  return overlay;
}
