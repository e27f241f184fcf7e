// The labeling canvas: the windowed image drawn crisp at any zoom, a pixel grid, overlays, pan and zoom input.
import { GRID_SCALE, fitView, pan, screenToImage, visiblePixels, zoomAt } from "../geometry.js";

const DRAG_SLOP_PX = 3; // a right-button press that moves less is a click

export class Stage {
  /** layers: functions (ctx, view, visible) drawn over the image in order. */
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.view = { scale: 1, ox: 0, oy: 0 };
    this.imageCanvas = null;
    this.width = 0;
    this.height = 0;
    this.layers = [];
    this.tool = null;
    this.showGrid = true;
    this.spaceDown = false;
    this.frameTimes = [];
    this.onViewChange = () => {};
    this.onHover = () => {};
    this.onWindowDrag = () => {}; // (phase "start" | "move" | "end", dx, dy): right-drag or Alt+drag, CSS pixels
    this._frame = 0;
    this._drag = null;
    this._bind();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  get cssWidth() {
    return this.canvas.clientWidth;
  }

  get cssHeight() {
    return this.canvas.clientHeight;
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(this.cssWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(this.cssHeight * dpr));
    this.requestDraw();
  }

  /** A canvas the size of the image holding its windowed RGBA rendering. */
  setImageCanvas(imageCanvas, keepView) {
    const sameSize = this.width === imageCanvas.width && this.height === imageCanvas.height;
    this.imageCanvas = imageCanvas;
    this.width = imageCanvas.width;
    this.height = imageCanvas.height;
    if (!keepView || !sameSize) this.fit();
    this.requestDraw();
  }

  minScale() {
    return this.width ? Math.min(1, fitView(this.width, this.height, this.cssWidth, this.cssHeight).scale) / 2 : 0.05;
  }

  fit() {
    if (!this.width) return;
    this.setView(fitView(this.width, this.height, this.cssWidth, this.cssHeight));
  }

  setView(view) {
    this.view = view;
    this.onViewChange(view);
    this.requestDraw();
  }

  zoomBy(factor, sx = this.cssWidth / 2, sy = this.cssHeight / 2) {
    this.setView(zoomAt(this.view, sx, sy, factor, this.minScale()));
  }

  requestDraw() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this.draw();
    });
  }

  draw() {
    const started = performance.now();
    const { ctx, view } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = "#0b0c0e";
    ctx.fillRect(0, 0, this.cssWidth, this.cssHeight);
    if (!this.imageCanvas) return;
    const visible = visiblePixels(view, this.cssWidth, this.cssHeight, this.width, this.height);
    const w = visible.x1 - visible.x0;
    const h = visible.y1 - visible.y0;
    if (w > 0 && h > 0) {
      ctx.drawImage(
        this.imageCanvas,
        visible.x0,
        visible.y0,
        w,
        h,
        view.ox + visible.x0 * view.scale,
        view.oy + visible.y0 * view.scale,
        w * view.scale,
        h * view.scale,
      );
    }
    for (const layer of this.layers) layer(ctx, view, visible);
    if (this.showGrid && view.scale >= GRID_SCALE) this._drawGrid(visible);
    this.frameTimes.push(performance.now() - started);
    if (this.frameTimes.length > 240) this.frameTimes.shift();
  }

  _drawGrid(visible) {
    const { ctx, view } = this;
    ctx.save();
    ctx.strokeStyle = "rgba(128, 128, 128, 0.3)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let c = visible.x0; c <= visible.x1; c += 1) {
      const x = Math.round(view.ox + c * view.scale) + 0.5;
      ctx.moveTo(x, view.oy + visible.y0 * view.scale);
      ctx.lineTo(x, view.oy + visible.y1 * view.scale);
    }
    for (let r = visible.y0; r <= visible.y1; r += 1) {
      const y = Math.round(view.oy + r * view.scale) + 0.5;
      ctx.moveTo(view.ox + visible.x0 * view.scale, y);
      ctx.lineTo(view.ox + visible.x1 * view.scale, y);
    }
    ctx.stroke();
    ctx.restore();
  }

  /** Pointer position in CSS pixels of the canvas and in image coordinates. */
  position(event) {
    const rect = this.canvas.getBoundingClientRect();
    const sx = event.clientX - rect.left;
    const sy = event.clientY - rect.top;
    return { sx, sy, ...screenToImage(this.view, sx, sy) };
  }

  _bind() {
    const canvas = this.canvas;
    // The right button drags the window/level; a right-click that did not drag is the tool's context action
    // (on pointerup: Chromium on Linux sends contextmenu on press, before a drag could be told from a click).
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      const pos = this.position(event);
      if (event.button === 2 || (event.button === 0 && event.altKey)) {
        this._drag = { kind: "window", start: pos, moved: false, context: event.button === 2 };
        this.onWindowDrag("start", 0, 0);
      } else if (event.button === 1 || (event.button === 0 && this.spaceDown)) {
        this._drag = { kind: "pan", last: pos };
      } else if (event.button === 0 && this.tool?.down) {
        this._drag = { kind: "tool" };
        this.tool.down(pos, event);
      }
    });
    canvas.addEventListener("pointermove", (event) => {
      const pos = this.position(event);
      this.onHover(pos);
      if (!this._drag) return;
      if (this._drag.kind === "window") {
        const dx = pos.sx - this._drag.start.sx;
        const dy = pos.sy - this._drag.start.sy;
        if (Math.hypot(dx, dy) > DRAG_SLOP_PX) this._drag.moved = true;
        if (this._drag.moved) this.onWindowDrag("move", dx, dy);
      } else if (this._drag.kind === "pan") {
        this.panBy(pos.sx - this._drag.last.sx, pos.sy - this._drag.last.sy);
        this._drag.last = pos;
      } else if (this.tool?.move) {
        this.tool.move(pos, event);
      }
    });
    const end = (event) => {
      if (this._drag?.kind === "tool" && this.tool?.up) this.tool.up(this.position(event), event);
      if (this._drag?.kind === "window") {
        this.onWindowDrag("end", 0, 0);
        const click = this._drag.context && !this._drag.moved && event.type === "pointerup";
        if (click && this.tool?.context) this.tool.context(this.position(event));
      }
      this._drag = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        if (event.shiftKey || event.altKey) {
          this.panBy(-(event.deltaX || event.deltaY), event.shiftKey ? 0 : -event.deltaY);
        } else {
          const pos = this.position(event);
          this.zoomBy(Math.exp(-event.deltaY * 0.0015), pos.sx, pos.sy);
        }
      },
      { passive: false },
    );
  }

  panBy(dx, dy) {
    this.setView(pan(this.view, dx, dy));
  }
}
