// The annotation viewer: the panes of one item side by side, pixel-exact.
//
// Every pane is a canvas drawn in device pixels with smoothing off, at an integer zoom and
// an integer offset, so each image pixel becomes exactly zoom x zoom screen pixels (nearest
// neighbour; nothing is resampled or re-encoded). All panes share one view (zoom, centre,
// cursor), so zoom, pan, crosshair, magnifier and boxes stay in step; flicker swaps which
// image a pane shows and leaves the view alone, so the eye catches what changes.
//
// An ES module: the geometry (zoom, origin, pan, pixel <-> screen) is in viewer/geometry.js
// and the box editor (drawing, undo, redo) in viewer/boxes.js, both pure and tested apart
// (tests/js/); this module holds the view's state and wires them to the canvases and controls.
// annotate.js, adjudicate.js and result.js import Viewer from here, with bindToolbar (the
// toolbar's buttons) and viewKeys (the keys every page of the viewer shares).
//
// The shown image is a crop (data.size, square) or a whole image (data.width x data.height,
// the result viewer). The run's maps (data.maps) are fetched only when first overlaid.

import * as geometry from "./viewer/geometry.js";
import { BoxEditor, boxFrom, describeBox } from "./viewer/boxes.js";

const MAGNIFIER_CSS_PX = 132;
const BLINK_MS = { min: 100, max: 2000, step: 100, initial: 500 };

function loadImage(url) {
  const image = new Image();
  image.decoding = "async";
  image.src = url;
  return image.decode().then(() => image);
}

export class Viewer {
  constructor(root, data) {
    this.root = root;
    this.data = data;
    this.size = data.size;
    this.width = data.width ?? data.size;
    this.height = data.height ?? data.size;
    this.dpr = window.devicePixelRatio || 1;
    this.images = new Map();
    this.differences = new Map();
    this.contextIndex = -1; // -1: the crop itself; else an entry of data.contexts
    this.cursor = null; // {x, y, from: "mouse" | "keys"} in displayed-image pixels
    this.hovered = null;
    this.magnifier = false;
    this.lines = true;
    // Panes with the difference overlay on (by label); "d" switches it for every pane.
    this.overlay = { panes: new Set(), opacity: 0.6, kinds: ["difference", ...Object.keys(data.maps)], kind: 0 };
    const labels = data.panes.filter((p) => p.role !== "difference").map((p) => p.label);
    this.pairs = [];
    for (let i = 0; i < labels.length; i += 1) {
      for (let j = i + 1; j < labels.length; j += 1) this.pairs.push([labels[i], labels[j]]);
    }
    this.flicker = { pair: 0, on: false, timer: null, ms: BLINK_MS.initial };
    this.editor = new BoxEditor(data.boxes || []);
    this.readOnly = Boolean(data.read_only); // adjudication: boxes are shown, not drawn
    const compared = data.panes.find((p) => p.role === "compared");
    this.active = compared ? compared.label : data.panes[0].label;
    this.panes = data.panes.map((pane) => this.buildPane(pane));
    this.listeners = [];
    this.layout();
    this.zoom = geometry.fitZoom(this);
    this.centre();
    this.listen(window, "resize", () => {
      this.layout();
      this.draw();
    });
    this.load(this.currentUrls()).then(() => this.root.dispatchEvent(new CustomEvent("viewer:ready")));
    this.syncControls();
  }

  // ---- set-up ------------------------------------------------------------------------

  buildPane(pane) {
    const figure = this.root.querySelector(`figure.pane[data-label="${CSS.escape(pane.label)}"]`);
    const canvas = figure.querySelector("canvas");
    const state = { ...pane, figure, canvas, ctx: canvas.getContext("2d") };
    canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e, state));
    canvas.addEventListener("pointermove", (e) => this.onPointerMove(e, state));
    canvas.addEventListener("pointerup", (e) => this.onPointerUp(e, state));
    canvas.addEventListener("pointerleave", () => this.onPointerLeave());
    canvas.addEventListener("wheel", (e) => this.onWheel(e, state), { passive: false });
    canvas.addEventListener("click", () => this.setActive(state.label));
    const overlay = figure.querySelector("[data-pane-overlay]");
    if (overlay) overlay.addEventListener("click", () => this.togglePaneOverlay(state.label));
    return state;
  }

  listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push([target, type, handler]);
  }

  destroy() {
    this.stopBlink();
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
  }

  layout() {
    const container = this.root.querySelector(".panes");
    const gap = 12;
    const count = this.panes.length;
    const width = container.clientWidth || window.innerWidth;
    const byWidth = Math.floor((width - gap * (count - 1)) / count);
    const byHeight = Math.floor(window.innerHeight * 0.62);
    const side = Math.max(160, Math.min(byWidth, byHeight, 1024));
    this.side = Math.round(side * this.dpr); // device pixels
    for (const pane of this.panes) {
      pane.canvas.width = this.side;
      pane.canvas.height = this.side;
      pane.canvas.style.width = `${this.side / this.dpr}px`;
      pane.canvas.style.height = `${this.side / this.dpr}px`;
    }
  }

  // ---- what is shown -----------------------------------------------------------------

  get contextEntry() {
    return this.contextIndex < 0 ? null : this.data.contexts[this.contextIndex];
  }

  get shownSide() {
    const entry = this.contextEntry;
    return entry ? entry.side : this.size;
  }

  get shownWidth() {
    const entry = this.contextEntry;
    return entry ? entry.side : this.width;
  }

  get shownHeight() {
    const entry = this.contextEntry;
    return entry ? entry.side : this.height;
  }

  get cropOffset() {
    const entry = this.contextEntry;
    return entry ? { x: entry.crop_x, y: entry.crop_y } : { x: 0, y: 0 };
  }

  urlOf(label) {
    const entry = this.contextEntry;
    if (entry) return entry.urls[label] || null;
    const pane = this.data.panes.find((p) => p.label === label);
    return pane ? pane.url : null;
  }

  /** The label whose image a pane shows now: its own, or its flicker partner's. */
  showing(pane) {
    if (pane.role === "difference") return pane.label;
    const pair = this.pairs[this.flicker.pair];
    if (this.flicker.on && pair && pair.includes(pane.label)) {
      return pair[0] === pane.label ? pair[1] : pair[0];
    }
    return pane.label;
  }

  /** The images the panes show now; maps are not among them (fetched when overlaid). */
  currentUrls() {
    return this.panes.map((p) => this.urlOf(p.label)).filter(Boolean);
  }

  load(urls) {
    const pending = urls
      .filter((url) => !this.images.has(url))
      .map((url) => {
        const promise = loadImage(url).then((image) => {
          this.images.set(url, image);
          this.draw();
        });
        this.images.set(url, null);
        return promise;
      });
    return Promise.all(pending).then(() => this.draw());
  }

  ready() {
    return this.currentUrls().every((url) => this.images.get(url));
  }

  // ---- geometry (viewer/geometry.js; the viewer is the view it reads) ---------------------

  /** Device pixel where the shown image's (0, 0) lands: an integer, so pixels stay exact. */
  origin() {
    return geometry.origin(this);
  }

  centre() {
    Object.assign(this, geometry.centre(this));
  }

  devicePoint(event, pane) {
    return geometry.devicePoint(event, pane.canvas.getBoundingClientRect(), pane.canvas);
  }

  // ---- view changes ------------------------------------------------------------------

  setZoom(zoom, around) {
    Object.assign(this, geometry.zoomTo(this, zoom, around));
    this.draw();
    this.syncControls();
  }

  zoomStep(direction, around) {
    const next = geometry.stepZoom(this, direction);
    if (next !== null) this.setZoom(next, around);
  }

  fit() {
    this.zoom = geometry.fitZoom(this);
    this.centre();
    this.draw();
    this.syncControls();
  }

  pan(dx, dy) {
    Object.assign(this, geometry.pan(this, dx, dy));
    this.draw();
  }

  panByKey(key) {
    const { dx, dy } = geometry.keyPan(this, key);
    this.pan(dx, dy);
  }

  moveCursor(key) {
    this.cursor = { ...geometry.moveCursor(this, this.cursor, key), from: "keys" };
    this.draw();
    this.announce(`Cursor at x ${this.cursor.x - this.cropOffset.x}, y ${this.cursor.y - this.cropOffset.y}`);
  }

  setContext(index) {
    const before = this.cropOffset;
    this.contextIndex = index;
    const after = this.cropOffset;
    if (this.cursor) this.cursor = geometry.reframe(this.cursor, before, after);
    if (this.editor.anchor) this.editor.anchor = geometry.reframe(this.editor.anchor, before, after);
    this.zoom = geometry.fitZoom(this);
    this.cx = after.x + this.size / 2;
    this.cy = after.y + this.size / 2;
    Object.assign(this, geometry.clampCentre(this));
    this.load(this.currentUrls());
    this.draw();
    this.syncControls();
  }

  cycleContext() {
    const next = this.contextIndex + 1 >= this.data.contexts.length ? -1 : this.contextIndex + 1;
    this.setContext(next);
  }

  setActive(label) {
    this.active = label;
    this.syncControls();
    this.draw();
  }

  cycleActive() {
    const labels = this.panes.filter((p) => p.role !== "difference").map((p) => p.label);
    this.setActive(labels[(labels.indexOf(this.active) + 1) % labels.length]);
  }

  // ---- flicker and overlays ----------------------------------------------------------

  toggleFlicker() {
    if (!this.pairs.length) return;
    this.flicker.on = !this.flicker.on;
    this.draw();
    this.syncControls();
  }

  nextPair() {
    if (!this.pairs.length) return;
    this.flicker.pair = (this.flicker.pair + 1) % this.pairs.length;
    this.draw();
    this.syncControls();
  }

  setPair(index) {
    this.flicker.pair = index;
    this.draw();
    this.syncControls();
  }

  toggleBlink() {
    if (this.flicker.timer) {
      this.stopBlink();
      this.flicker.on = false; // every pane back to its own image
      this.draw();
    } else {
      this.flicker.timer = window.setInterval(() => this.toggleFlicker(), this.flicker.ms);
    }
    this.syncControls();
  }

  stopBlink() {
    if (this.flicker.timer) window.clearInterval(this.flicker.timer);
    this.flicker.timer = null;
  }

  setBlinkMs(ms) {
    this.flicker.ms = Math.min(Math.max(Math.round(ms), BLINK_MS.min), BLINK_MS.max);
    if (this.flicker.timer) {
      this.stopBlink();
      this.flicker.timer = window.setInterval(() => this.toggleFlicker(), this.flicker.ms);
    }
    this.syncControls();
  }

  toggleOverlay() {
    const all = this.panes.filter((p) => p.role !== "difference").map((p) => p.label);
    const anyOn = all.some((label) => this.overlay.panes.has(label));
    this.overlay.panes = new Set(anyOn ? [] : all);
    this.draw();
    this.syncControls();
  }

  togglePaneOverlay(label) {
    if (this.overlay.panes.has(label)) this.overlay.panes.delete(label);
    else this.overlay.panes.add(label);
    this.draw();
    this.syncControls();
  }

  setOpacity(value) {
    this.overlay.opacity = Math.min(Math.max(value, 0), 1);
    this.draw();
    this.syncControls();
  }

  nextOverlayKind() {
    this.overlay.kind = (this.overlay.kind + 1) % this.overlay.kinds.length;
    this.draw();
    this.syncControls();
  }

  /** |shown - original| x gain per channel, as the platform's difference images. */
  differenceImage(url, originalUrl) {
    const key = `${url}|${originalUrl}`;
    if (this.differences.has(key)) return this.differences.get(key);
    const a = this.images.get(url);
    const b = this.images.get(originalUrl);
    if (!a || !b || a.naturalWidth !== b.naturalWidth) return null;
    const pixels = (image) => {
      const canvas = document.createElement("canvas");
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(image, 0, 0);
      return ctx.getImageData(0, 0, canvas.width, canvas.height);
    };
    const da = pixels(a);
    const db = pixels(b);
    const gain = this.data.difference_gain;
    for (let i = 0; i < da.data.length; i += 4) {
      for (let c = 0; c < 3; c += 1) da.data[i + c] = Math.min(255, Math.abs(da.data[i + c] - db.data[i + c]) * gain);
      da.data[i + 3] = 255;
    }
    const out = document.createElement("canvas");
    out.width = da.width;
    out.height = da.height;
    out.getContext("2d").putImageData(da, 0, 0);
    this.differences.set(key, out);
    return out;
  }

  overlayFor(pane, label) {
    if (!this.overlay.panes.has(pane.label) || pane.role === "difference" || label === "original") return null;
    const kind = this.overlay.kinds[this.overlay.kind];
    if (kind === "difference") {
      const original = this.urlOf("original");
      const url = this.urlOf(label);
      return url && original ? this.differenceImage(url, original) : null;
    }
    // The run's maps belong to the reconstruction (unblinded studies only), fetched the first
    // time one is overlaid: a whole image's maps are as large as the image.
    if (this.contextEntry || label !== "reconstruction") return null;
    const url = this.data.maps[kind];
    if (!this.images.has(url)) this.load([url]);
    return this.images.get(url) || null;
  }

  // ---- boxes -------------------------------------------------------------------------

  // ---- boxes (viewer/boxes.js) ---------------------------------------------------------

  get boxes() {
    return this.editor.boxes;
  }

  /** The box between two corners (shown-image pixels) on the active pane, cut to the crop. */
  boxFrom(a, b) {
    return boxFrom(a, b, { pane: this.active, offset: this.cropOffset, size: this.size });
  }

  startOrFinishBox() {
    if (this.readOnly) return;
    const at = this.cursor || geometry.centrePixel(this);
    if (!this.editor.drawing) {
      this.editor.begin(at);
      this.cursor = { ...at, from: "keys" };
      this.announce(`Box started on pane ${this.active}; move the cursor with Shift and the arrow keys, then press x`);
    } else {
      this.addBox(this.boxFrom(this.editor.anchor, at));
      this.editor.cancel();
    }
    this.draw();
  }

  cancelBox() {
    const had = this.editor.cancel();
    this.draw();
    return had;
  }

  addBox(box) {
    this.boxesChanged(this.editor.add(box));
  }

  removeBox(index) {
    this.boxesChanged(this.editor.remove(index));
  }

  undo() {
    if (this.readOnly) return;
    const message = this.editor.undo();
    if (message) this.boxesChanged(message);
  }

  redo() {
    if (this.readOnly) return;
    const message = this.editor.redo();
    if (message) this.boxesChanged(message);
  }

  boxesChanged(message) {
    const field = this.root.querySelector("input[name=boxes]");
    if (field) field.value = JSON.stringify(this.boxes);
    const list = this.root.querySelector("[data-box-list]");
    if (list) {
      list.replaceChildren(
        ...this.boxes.map((b, i) => {
          const item = document.createElement("li");
          item.textContent = describeBox(b, i);
          if (this.readOnly) return item;
          const remove = document.createElement("button");
          remove.type = "button";
          remove.textContent = "Remove";
          remove.setAttribute("aria-label", `Remove box ${i + 1}`);
          remove.addEventListener("click", () => this.removeBox(i));
          item.append(remove);
          return item;
        }),
      );
    }
    this.syncControls();
    this.draw();
    if (message) this.announce(message);
    this.root.dispatchEvent(new CustomEvent("viewer:boxes"));
  }

  /** Boxes become editable (a finished item being revised) or shown only. */
  setReadOnly(readOnly) {
    this.readOnly = readOnly;
    this.boxesChanged("");
  }

  // ---- pointer -----------------------------------------------------------------------

  onPointerDown(event, pane) {
    if (event.button !== 0) return;
    pane.canvas.setPointerCapture(event.pointerId);
    const point = this.devicePoint(event, pane);
    this.setActive(pane.label);
    if (event.shiftKey && !this.readOnly) {
      this.drag = { kind: "box", from: geometry.pixelAt(this, point), pane: pane.label };
      this.editor.begin(this.drag.from);
    } else {
      this.drag = { kind: "pan", last: point };
    }
    event.preventDefault();
  }

  onPointerMove(event, pane) {
    const point = this.devicePoint(event, pane);
    this.hovered = pane.label;
    if (this.drag && this.drag.kind === "pan") {
      this.pan(this.drag.last.x - point.x, this.drag.last.y - point.y);
      this.drag.last = point;
    }
    const pixel = geometry.pixelAt(this, point);
    this.cursor = geometry.inside(this, pixel) ? { ...pixel, from: "mouse" } : null;
    this.draw();
  }

  onPointerUp(event, pane) {
    if (this.drag && this.drag.kind === "box") {
      const to = geometry.pixelAt(this, this.devicePoint(event, pane));
      this.active = this.drag.pane;
      this.addBox(this.boxFrom(this.drag.from, to));
      this.editor.cancel();
    }
    this.drag = null;
  }

  onPointerLeave() {
    this.hovered = null;
    if (this.cursor && this.cursor.from === "mouse" && !this.drag) this.cursor = null;
    this.draw();
  }

  onWheel(event, pane) {
    event.preventDefault();
    this.zoomStep(event.deltaY < 0 ? 1 : -1, this.devicePoint(event, pane));
  }

  // ---- drawing -----------------------------------------------------------------------

  draw() {
    if (this.frame) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = null;
      for (const pane of this.panes) this.drawPane(pane);
    });
  }

  drawNow() {
    if (this.frame) window.cancelAnimationFrame(this.frame);
    this.frame = null;
    for (const pane of this.panes) this.drawPane(pane);
  }

  drawPane(pane) {
    const ctx = pane.ctx;
    const z = this.zoom;
    const o = this.origin();
    const w = this.shownWidth;
    const h = this.shownHeight;
    ctx.save();
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = "#1b1b1b";
    ctx.fillRect(0, 0, this.side, this.side);
    const label = this.showing(pane);
    const url = pane.role === "difference" ? (this.contextEntry ? null : pane.url) : this.urlOf(label);
    const image = url ? this.images.get(url) : null;
    if (image) ctx.drawImage(image, o.x, o.y, w * z, h * z);
    const overlay = image ? this.overlayFor(pane, label) : null;
    if (overlay) {
      ctx.globalAlpha = this.overlay.opacity;
      ctx.drawImage(overlay, o.x, o.y, w * z, h * z);
      ctx.globalAlpha = 1;
    }
    const offset = this.cropOffset;
    const rect = (x, y, w, h) => geometry.screenRect(o, z, x, y, w, h);
    if (this.contextEntry) this.outline(ctx, rect(offset.x, offset.y, this.size, this.size), "#ffd400", [6, 4]);
    this.boxes.forEach((b, i) => {
      const colour = b.pane === pane.label ? "#00e5ff" : "#ff4fd8";
      const r = rect(b.x + offset.x, b.y + offset.y, b.w, b.h);
      this.outline(ctx, r, colour, []);
      ctx.fillStyle = colour;
      ctx.font = `${Math.round(12 * this.dpr)}px sans-serif`;
      ctx.fillText(String(i + 1), r.x + 3, r.y + 13 * this.dpr);
    });
    if (this.editor.anchor && this.cursor) {
      const box = this.boxFrom(this.editor.anchor, this.cursor);
      this.outline(ctx, rect(box.x + offset.x, box.y + offset.y, box.w, box.h), "#ffffff", [4, 3]);
    }
    if (this.cursor) this.drawCrosshair(ctx, o);
    if (this.magnifier && this.cursor && image) this.drawMagnifier(ctx, image, o);
    ctx.restore();
    const caption = pane.figure.querySelector("[data-showing]");
    if (caption) caption.textContent = label === pane.label ? "" : `showing ${label}`;
    pane.figure.classList.toggle("active", pane.label === this.active);
  }

  /** A rectangle {x, y, w, h} of device pixels outlined in a colour, with a black line outside. */
  outline(ctx, { x, y, w, h }, colour, dash) {
    ctx.save();
    ctx.lineWidth = Math.max(1, Math.round(this.dpr));
    ctx.setLineDash(dash.map((d) => d * this.dpr));
    ctx.strokeStyle = "#000000";
    ctx.strokeRect(x - 0.5, y - 0.5, w + 1, h + 1);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    ctx.restore();
  }

  drawCrosshair(ctx, o) {
    const z = this.zoom;
    const x = o.x + this.cursor.x * z;
    const y = o.y + this.cursor.y * z;
    if (this.lines) {
      ctx.save();
      ctx.strokeStyle = "rgba(0, 229, 255, 0.55)";
      ctx.lineWidth = 1;
      const gap = z + 6 * this.dpr;
      ctx.beginPath();
      ctx.moveTo(0, y + z / 2);
      ctx.lineTo(x - gap + z, y + z / 2);
      ctx.moveTo(x + gap, y + z / 2);
      ctx.lineTo(this.side, y + z / 2);
      ctx.moveTo(x + z / 2, 0);
      ctx.lineTo(x + z / 2, y - gap + z);
      ctx.moveTo(x + z / 2, y + gap);
      ctx.lineTo(x + z / 2, this.side);
      ctx.stroke();
      ctx.restore();
    }
    this.outline(ctx, { x, y, w: z, h: z }, "#00e5ff", []);
  }

  drawMagnifier(ctx, image, o) {
    const lens = Math.round(MAGNIFIER_CSS_PX * this.dpr);
    const factor = Math.min(64, this.zoom * 4);
    const cells = Math.max(1, Math.floor(lens / factor));
    const sx = this.cursor.x - Math.floor(cells / 2);
    const sy = this.cursor.y - Math.floor(cells / 2);
    const px = o.x + this.cursor.x * this.zoom;
    const py = o.y + this.cursor.y * this.zoom;
    const at = geometry.magnifierAt(this.side, lens, px, py);
    ctx.save();
    ctx.fillStyle = "#1b1b1b";
    ctx.fillRect(at.x, at.y, cells * factor, cells * factor);
    ctx.beginPath();
    ctx.rect(at.x, at.y, cells * factor, cells * factor);
    ctx.clip();
    ctx.drawImage(image, at.x - sx * factor, at.y - sy * factor, image.naturalWidth * factor, image.naturalHeight * factor);
    ctx.restore();
    const middle = Math.floor(cells / 2) * factor;
    this.outline(ctx, { x: at.x + middle, y: at.y + middle, w: factor, h: factor }, "#00e5ff", []);
    this.outline(ctx, { x: at.x, y: at.y, w: cells * factor, h: cells * factor }, "#ffffff", []);
  }

  // ---- controls ----------------------------------------------------------------------

  announce(message) {
    const live = this.root.querySelector("[data-live]");
    if (live) live.textContent = message;
  }

  syncControls() {
    const q = (selector) => this.root.querySelector(selector);
    const set = (selector, fn) => {
      const element = q(selector);
      if (element) fn(element);
    };
    set("[data-zoom-select]", (e) => {
      e.value = String(this.zoom);
    });
    set("[data-zoom-label]", (e) => {
      e.textContent = `${this.zoom}×`;
    });
    set("[data-flicker]", (e) => e.setAttribute("aria-pressed", String(this.flicker.on)));
    set("[data-blink]", (e) => e.setAttribute("aria-pressed", String(Boolean(this.flicker.timer))));
    set("[data-blink-ms]", (e) => {
      e.value = String(this.flicker.ms);
    });
    set("[data-pair]", (e) => {
      if (e.options.length !== this.pairs.length) {
        e.replaceChildren(...this.pairs.map((p, i) => new Option(`${p[0]} ⇄ ${p[1]}`, String(i))));
      }
      e.value = String(this.flicker.pair);
    });
    set("[data-overlay]", (e) => e.setAttribute("aria-pressed", String(this.overlay.panes.size > 0)));
    for (const pane of this.panes) {
      const button = pane.figure.querySelector("[data-pane-overlay]");
      if (button) button.setAttribute("aria-pressed", String(this.overlay.panes.has(pane.label)));
    }
    set("[data-opacity]", (e) => {
      e.value = String(Math.round(this.overlay.opacity * 100));
    });
    set("[data-overlay-kind]", (e) => {
      e.value = this.overlay.kinds[this.overlay.kind];
    });
    set("[data-magnifier]", (e) => e.setAttribute("aria-pressed", String(this.magnifier)));
    set("[data-lines]", (e) => e.setAttribute("aria-pressed", String(this.lines)));
    set("[data-context]", (e) => {
      e.value = String(this.contextIndex);
    });
    set("[data-active]", (e) => {
      e.textContent = this.active;
    });
    set("[data-undo]", (e) => {
      e.disabled = this.readOnly || !this.editor.canUndo;
    });
    set("[data-redo]", (e) => {
      e.disabled = this.readOnly || !this.editor.canRedo;
    });
  }

  /** The view, for tests and for the rater's bug reports. */
  state() {
    return {
      zoom: this.zoom,
      origin: this.origin(),
      side: this.side,
      dpr: this.dpr,
      shownSide: this.shownSide,
      shownWidth: this.shownWidth,
      shownHeight: this.shownHeight,
      overlay: {
        kind: this.overlay.kinds[this.overlay.kind],
        panes: [...this.overlay.panes],
        opacity: this.overlay.opacity,
      },
      flicker: this.flicker.on,
      // Every image fetched so far, maps included (null while one is on its way).
      loaded: [...this.images.entries()].filter(([, image]) => image).map(([url]) => url),
      context: this.contextEntry ? this.contextEntry.factor : 1,
      panes: this.panes.map((p) => ({ label: p.label, showing: this.showing(p), url: this.urlOf(this.showing(p)) })),
      boxes: this.boxes.map((b) => ({ ...b })),
      ready: this.ready(),
    };
  }
}


/**
 * Wires the viewer's toolbar (templates/_viewer.html) in `root` to `viewer`: each control
 * found by its data- attribute; a page without one simply lacks it.
 */
export function bindToolbar(root, viewer) {
  const on = (selector, type, handler) => {
    const element = root.querySelector(selector);
    if (element) element.addEventListener(type, handler);
  };
  on("[data-zoom-in]", "click", () => viewer.zoomStep(1));
  on("[data-zoom-out]", "click", () => viewer.zoomStep(-1));
  on("[data-zoom-select]", "change", (e) => viewer.setZoom(Number(e.target.value)));
  on("[data-fit]", "click", () => viewer.fit());
  on("[data-flicker]", "click", () => viewer.toggleFlicker());
  on("[data-pair]", "change", (e) => viewer.setPair(Number(e.target.value)));
  on("[data-blink]", "click", () => viewer.toggleBlink());
  on("[data-blink-ms]", "change", (e) => viewer.setBlinkMs(Number(e.target.value)));
  on("[data-overlay]", "click", () => viewer.toggleOverlay());
  on("[data-opacity]", "input", (e) => viewer.setOpacity(Number(e.target.value) / 100));
  on("[data-overlay-kind]", "change", (e) => {
    viewer.overlay.kind = Math.max(0, viewer.overlay.kinds.indexOf(e.target.value));
    viewer.draw();
  });
  on("[data-magnifier]", "click", () => {
    viewer.magnifier = !viewer.magnifier;
    viewer.syncControls();
    viewer.draw();
  });
  on("[data-lines]", "click", () => {
    viewer.lines = !viewer.lines;
    viewer.syncControls();
    viewer.draw();
  });
  on("[data-context]", "change", (e) => viewer.setContext(Number(e.target.value)));
  on("[data-undo]", "click", () => viewer.undo());
  on("[data-redo]", "click", () => viewer.redo());
}

/** The keys (by event.key) every page of the viewer shares: zoom, flicker, blink, overlays. */
export function viewKeys(viewer) {
  return {
    "+": () => viewer.zoomStep(1),
    "=": () => viewer.zoomStep(1),
    "-": () => viewer.zoomStep(-1),
    0: () => viewer.fit(),
    f: () => viewer.toggleFlicker(),
    F: () => viewer.nextPair(),
    b: () => viewer.toggleBlink(),
    "[": () => viewer.setBlinkMs(viewer.flicker.ms + 100),
    "]": () => viewer.setBlinkMs(viewer.flicker.ms - 100),
    d: () => viewer.toggleOverlay(),
    D: () => viewer.nextOverlayKind(),
    "{": () => viewer.setOpacity(viewer.overlay.opacity - 0.1),
    "}": () => viewer.setOpacity(viewer.overlay.opacity + 0.1),
  };
}

/**
 * The keys of a read-only page of the viewer (the result viewer, an audit): arrows pan
 * (Shift: move the cursor), `viewKeys` and the page's own `extra` keys, never while typing in
 * a field or with a modifier held. Returns a function that unbinds them.
 */
export function bindKeys(viewer, extra = {}) {
  const handler = (event) => {
    const target = event.target;
    if (
      target instanceof HTMLInputElement ||
      target instanceof HTMLSelectElement ||
      target instanceof HTMLTextAreaElement
    ) {
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key.startsWith("Arrow")) {
      if (event.shiftKey) viewer.moveCursor(event.key);
      else viewer.panByKey(event.key);
      event.preventDefault();
      return;
    }
    if (target instanceof HTMLButtonElement && event.key === "Enter") return;
    const action = extra[event.key] || viewKeys(viewer)[event.key];
    if (action) {
      action();
      event.preventDefault();
    }
  };
  document.addEventListener("keydown", handler);
  return () => document.removeEventListener("keydown", handler);
}

/** Zoom in as far as the square region {x, y, size} (shown-image pixels) fits a pane, centred. */
export function showRegion(viewer, { x, y, size }) {
  const fits = [16, 8, 4, 2, 1].find((z) => size * z <= viewer.side) ?? 1;
  viewer.setZoom(fits);
  viewer.pan((x + size / 2 - viewer.cx) * viewer.zoom, (y + size / 2 - viewer.cy) * viewer.zoom);
}
