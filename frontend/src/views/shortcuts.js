// The labeler's key map: which key runs which named action (the help overlay lists the same keys).
import { typing } from "../dom.js";

const PLAIN = {
  "?": "help",
  Escape: "close-help",
  a: "tool-point",
  b: "tool-brush",
  e: "tool-eraser",
  f: "tool-fill",
  "[": "brush-smaller",
  "]": "brush-bigger",
  Delete: "delete",
  Backspace: "delete",
  Tab: "next-target",
  y: "accept",
  x: "reject",
  w: "next-warning",
  m: "toggle-masks",
  o: "toggle-mask-mode",
  g: "toggle-grid",
  l: "toggle-loupe",
  0: "fit",
  1: "zoom-100",
  "+": "zoom-in",
  "=": "zoom-in",
  "-": "zoom-out",
  c: "auto",
  i: "invert",
  k: "next-colormap",
  n: "next",
  PageDown: "next-frame",
  PageUp: "previous-frame",
  d: "toggle-first-pass",
};
const WITH_CTRL = { z: "undo", Z: "undo", y: "redo", s: "save", Enter: "submit" };
const SHIFTED = { undo: "redo", "next-target": "previous-target" };

/** Bind keys to `actions` (name -> function); space is reported as held/released. Returns the unbinder. */
export function bindShortcuts(actions, onSpace) {
  function down(event) {
    if (typing(event)) return;
    if (event.key === " ") {
      onSpace(true);
      event.preventDefault();
      return;
    }
    const ctrl = event.ctrlKey || event.metaKey;
    let name = ctrl ? WITH_CTRL[event.key] : event.altKey ? undefined : PLAIN[event.key];
    if (name && event.shiftKey && SHIFTED[name]) name = SHIFTED[name];
    if (!name || !actions[name]) return;
    event.preventDefault();
    actions[name](event);
  }
  function up(event) {
    if (event.key === " ") onSpace(false);
  }
  document.addEventListener("keydown", down);
  document.addEventListener("keyup", up);
  return () => {
    document.removeEventListener("keydown", down);
    document.removeEventListener("keyup", up);
  };
}

/** Hand the focus back to `home` (the canvas) once a slider, checkbox or menu under `root` has changed, or Enter
 * ends a number entry: arrow and letter keys then reach the labeler again, not the control. */
export function returnFocus(root, home) {
  const back = () => home.focus({ preventScroll: true });
  root.addEventListener("change", (event) => {
    if (event.target.matches("input, select") && !typing(event)) back();
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("input[type=number]")) back();
  });
}
