// One image's labeling session: targets and masks in memory, every change sent through the API in order,
// masks applied when generation answers, undo/redo for points and pixels, version-checked mask saves.
import { ApiError, api, needsAcknowledgement } from "./api.js";
import { History } from "./history.js";
import { decodeRle, encodeRle } from "./rle.js";

export class LabelSession {
  constructor(image, listener) {
    this.image = image;
    this.targets = []; // {ref: {id}, x, y, tightness, version, pending}
    this.masks = new Map(); // target id -> {targetId, meta, raster, bbox, dirty, conflict}
    this.selected = null; // a target ref
    this.pending = 0;
    this.lastMaskMs = null; // click -> masks drawn
    this.lastRequestMs = null; // of that: the request that answered with them
    this.masksApplied = 0;
    this.message = "";
    this.listener = listener; // (what) => void: "targets" | "masks" | "status" | "history"
    this.history = new History(() => this.emit("history"));
    this._queue = Promise.resolve();
    this._genSeq = 0;
  }

  emit(what) {
    this.listener(what);
  }

  async load() {
    const [targets, masks] = await Promise.all([api.targets(this.image.id), api.masks(this.image.id)]);
    this.loadFrom(targets, masks);
  }

  loadFrom(targets, masks) {
    this.targets = targets.map((t) => ({ ref: { id: t.id }, ...pick(t) }));
    this._applyMasks(masks);
    this.emit("targets");
  }

  targetById(id) {
    return this.targets.find((t) => t.ref.id === id) || null;
  }

  /** The target's number as the panel and the canvas show it (1..n), for messages; database ids mean nothing there. */
  numberOf(id) {
    const index = this.targets.findIndex((t) => t.ref.id === id);
    return index >= 0 ? index + 1 : "?";
  }

  /** Run API work strictly in order, so versions seen by one request come from the one before. */
  enqueue(work) {
    this.pending += 1;
    this.emit("status");
    const run = this._queue.then(work).catch((error) => this.fail(error));
    this._queue = run.finally(() => {
      this.pending -= 1;
      this.emit("status");
    });
    return run;
  }

  fail(error) {
    this.message = error instanceof ApiError ? error.message : String(error.message || error);
    this.emit("status");
    if (error instanceof ApiError && (error.status === 409 || error.status === 404)) this._resync();
  }

  /** A target changed or vanished under us: take the server's targets (unsaved mask edits stay), drop the undo
   * history that pointed at the old state, and say so. */
  async _resync() {
    const message = this.message;
    try {
      await this.load();
      this.history.clear();
      this.say(`${message} The image was reloaded with the current targets; your unsaved mask edits are kept.`);
    } catch (error) {
      this.say(`${message} Reloading failed: ${error.message}`);
    }
  }

  say(text) {
    this.message = text;
    this.emit("status");
  }

  // --- targets -----------------------------------------------------------------------------------
  add(x, y, tightness = null, record = true, ref = { id: null }) {
    const target = { ref, x, y, tightness, version: 0, pending: true };
    this.targets.push(target);
    this.selected = ref;
    this.emit("targets");
    const started = performance.now();
    const seq = ++this._genSeq;
    if (record) {
      this.history.push({ undo: () => this.remove(target.ref, false), redo: () => this._readd(target) });
    }
    return this.enqueue(async () => {
      const sent = performance.now();
      const created = await api.targetAdd(this.image.id, { x, y, tightness });
      this.lastRequestMs = performance.now() - sent;
      ref.id = created.id;
      Object.assign(target, pick(created), { pending: false });
      this.emit("targets");
      await this._afterChange(created.generation, seq, started);
    });
  }

  _readd(old) {
    this.targets = this.targets.filter((t) => t !== old);
    return this.add(old.x, old.y, old.tightness, false, old.ref);
  }

  move(ref, x, y, from, record = true) {
    const target = this.targets.find((t) => t.ref === ref);
    if (!target) return Promise.resolve();
    const before = from || { x: target.x, y: target.y };
    Object.assign(target, { x, y, pending: true });
    this.emit("targets");
    if (record) this.history.push({ undo: () => this.move(ref, before.x, before.y, null, false), redo: () => this.move(ref, x, y, null, false) });
    const started = performance.now();
    const seq = ++this._genSeq;
    return this.enqueue(async () => {
      const sent = performance.now();
      const moved = await api.targetMove(ref.id, { version: target.version, x, y });
      this.lastRequestMs = performance.now() - sent;
      Object.assign(target, pick(moved), { pending: false });
      this.emit("targets");
      await this._afterChange(moved.generation, seq, started);
    });
  }

  setTightness(ref, tightness) {
    const target = this.targets.find((t) => t.ref === ref);
    if (!target) return Promise.resolve();
    target.pending = true;
    const started = performance.now();
    const seq = ++this._genSeq;
    return this.enqueue(async () => {
      const moved = await api.targetMove(ref.id, { version: target.version, tightness });
      Object.assign(target, pick(moved), { pending: false });
      this.emit("targets");
      await this._afterChange(moved.generation, seq, started);
    });
  }

  remove(ref, record = true) {
    const target = this.targets.find((t) => t.ref === ref);
    if (!target) return Promise.resolve();
    this.targets = this.targets.filter((t) => t !== target);
    const mask = this.masks.get(ref.id);
    this.masks.delete(ref.id);
    if (this.selected === ref) this.selected = null;
    this.emit("targets");
    this.emit("masks");
    if (record) this.history.push({ undo: () => this._readd(target), redo: () => this.remove(ref, false) });
    const started = performance.now();
    const seq = ++this._genSeq;
    return this.enqueue(async () => {
      await api.targetDelete(ref.id, target.version || undefined);
      if (mask && mask.dirty) this.say("The deleted target's unsaved mask edit was dropped.");
      const generation = await api.generation(this.image.id, 3);
      await this._afterChange(generation, seq, started);
    });
  }

  // --- generation ---------------------------------------------------------------------------------
  async _afterChange(generation, seq, started) {
    let current = generation;
    while (current && !current.done) {
      if (seq !== this._genSeq) return; // a newer change will bring newer masks
      current = await api.generation(this.image.id, 2);
    }
    if (seq !== this._genSeq || !current) return;
    if (current.job && current.job.status === "failed") this.say(current.job.message || "Mask generation failed.");
    this._applyMasks(current.masks || []);
    this.emit("masks"); // listeners draw synchronously, so the time below is click to masks on screen
    this.lastMaskMs = performance.now() - started;
    this.masksApplied += 1;
    this.emit("status");
  }

  _applyMasks(list) {
    const next = new Map();
    for (const meta of list) {
      const local = this.masks.get(meta.target_id);
      if (local && local.dirty) {
        next.set(meta.target_id, local); // an unsaved human edit wins over a fresh prediction
        continue;
      }
      next.set(meta.target_id, { targetId: meta.target_id, meta, raster: decodeRle(meta.rle), bbox: meta.bbox, dirty: false });
    }
    for (const [id, local] of this.masks) {
      if (local.dirty && !next.has(id) && this.targetById(id)) next.set(id, local);
    }
    this.masks = next;
  }

  warnings() {
    const out = [];
    for (const target of this.targets) {
      const mask = this.masks.get(target.ref.id);
      if (mask && mask.meta && mask.meta.warnings.length) out.push({ target, warnings: mask.meta.warnings });
    }
    return out;
  }

  // --- pixels -------------------------------------------------------------------------------------
  maskFor(ref, create = true) {
    let mask = this.masks.get(ref.id);
    if (!mask && create && ref.id) {
      mask = { targetId: ref.id, meta: null, raster: new Uint8Array(this.image.width * this.image.height), bbox: null, dirty: true };
      this.masks.set(ref.id, mask);
    }
    return mask;
  }

  /** Set pixels of a target's mask; returns the changes for undo. */
  paint(ref, indices, value, changes) {
    const mask = this.maskFor(ref);
    if (!mask) return;
    for (const i of indices) {
      if (mask.raster[i] === value || changes.has(i)) {
        if (mask.raster[i] !== value) mask.raster[i] = value;
        continue;
      }
      changes.set(i, mask.raster[i]);
      mask.raster[i] = value;
    }
    mask.dirty = true;
  }

  recordPixels(ref, changes, value) {
    if (!changes.size) return;
    const entries = [...changes.entries()];
    const apply = (forward) => {
      const mask = this.maskFor(ref);
      if (!mask) return;
      for (const [i, before] of entries) mask.raster[i] = forward ? value : before;
      mask.dirty = true;
      this.emit("masks");
    };
    this.history.push({ undo: () => apply(false), redo: () => apply(true) });
    this.emit("masks"); // the stroke is done: the panel's state and pixel count, and the Save count, follow now
  }

  dirtyMasks() {
    return [...this.masks.values()].filter((m) => m.dirty);
  }

  /** PUT each edited mask with the version it was edited from; a 409 keeps the local edit. */
  saveMasks({ overwrite = false } = {}) {
    return this.enqueue(async () => {
      for (const mask of this.dirtyMasks()) {
        const version = overwrite && mask.conflict != null ? mask.conflict : mask.meta ? mask.meta.version : 0;
        try {
          const saved = await api.maskSave(mask.targetId, version, encodeRle(mask.raster, this.image.height, this.image.width));
          Object.assign(mask, { meta: saved, bbox: saved.bbox, dirty: false, conflict: null });
          this.say(`Mask of target ${this.numberOf(mask.targetId)} saved (version ${saved.version}).`);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status !== 409) throw error;
          mask.conflict = error.extra.current_version;
          this.say(
            `Not saved: someone else changed the mask of target ${this.numberOf(mask.targetId)} ` +
              `(now version ${mask.conflict}). ` +
              "Your edit is kept here; save again with Overwrite to replace theirs, or Reload to drop yours.",
          );
          this.emit("conflict");
        }
      }
      this.emit("masks");
    });
  }

  /** Confirm or reject one mask. A confirm the server refuses for a warning (point_outside) asks `decide(message)`
   * and, if it says yes, confirms again acknowledging that warning. */
  review(ref, accept, comment = "", decide = () => false) {
    return this.enqueue(async () => {
      const mask = this.masks.get(ref.id);
      if (!mask || !mask.meta) throw new Error("This target has no saved mask to review yet.");
      if (mask.dirty) throw new Error("Save the edited mask first (Ctrl+S).");
      let meta;
      try {
        meta = accept
          ? await api.maskConfirm(ref.id, mask.meta.version)
          : await api.maskReject(ref.id, mask.meta.version, comment);
      } catch (error) {
        const warnings = needsAcknowledgement(error);
        if (!warnings) throw error;
        if (!decide(error.message)) return this.say("Not confirmed: the mask still misses its own point.");
        meta = await api.maskConfirm(ref.id, mask.meta.version, warnings);
      }
      mask.meta = meta;
      this.say(`Target ${this.numberOf(ref.id)}: mask ${meta.state}.`);
      this.emit("masks");
    });
  }

  /** Resolves when every queued request has finished. */
  idle() {
    return this._queue;
  }
}

function pick(t) {
  return { x: t.x, y: t.y, tightness: t.tightness, version: t.version, maskState: t.mask_state };
}
