// The viewer's box editor: the rater's boxes, drawn between two corners, with undo and redo.
//
// Pure, no DOM: the viewer draws the boxes, fills the form field and the list, and announces
// the messages these methods return. A box is {pane, x, y, w, h} in crop pixels (what the
// server stores), plus `rater` on the adjudication page, where every rater's boxes are shown.
// Corners are pixels of the shown image, which is the crop or a wider context around it
// (the crop at `offset` in it): a box is always cut to the crop.

/** The box with corners a and b (either order, both included) on `pane`, cut to the crop of `size` at `offset`. */
export function boxFrom(a, b, { pane, offset, size }) {
  const n = size;
  const x0 = Math.min(Math.max(Math.min(a.x, b.x) - offset.x, 0), n - 1);
  const y0 = Math.min(Math.max(Math.min(a.y, b.y) - offset.y, 0), n - 1);
  const x1 = Math.min(Math.max(Math.max(a.x, b.x) - offset.x, 0), n - 1);
  const y1 = Math.min(Math.max(Math.max(a.y, b.y) - offset.y, 0), n - 1);
  return { pane, x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/** A copy of a box as the page sends it: its fields, `rater` only where it has one. */
export function copyBox(b) {
  return { pane: b.pane, x: b.x, y: b.y, w: b.w, h: b.h, ...(b.rater ? { rater: b.rater } : {}) };
}

/** The line that lists box number `index` (from 0) for the rater and for screen readers. */
export function describeBox(b, index) {
  const by = b.rater ? ` by ${b.rater}` : "";
  return `Box ${index + 1}${by} on ${b.pane}: x ${b.x}–${b.x + b.w - 1}, y ${b.y}–${b.y + b.h - 1} `;
}

export class BoxEditor {
  constructor(boxes = []) {
    this.boxes = boxes.map(copyBox);
    this.undoStack = [];
    this.redoStack = [];
    /** The first corner of a box being drawn (shown-image pixels), or null. */
    this.anchor = null;
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /** Adds a box (undoable); returns the message to announce. */
  add(box) {
    this.boxes.push(box);
    this.undoStack.push({ op: "add", box, index: this.boxes.length - 1 });
    this.redoStack = [];
    return `Box ${this.boxes.length} added on pane ${box.pane}`;
  }

  /** Removes box number `index` (from 0; undoable); returns the message to announce. */
  remove(index) {
    const [box] = this.boxes.splice(index, 1);
    this.undoStack.push({ op: "remove", box, index });
    this.redoStack = [];
    return `Box ${index + 1} removed`;
  }

  apply(step, forward) {
    const adding = (step.op === "add") === forward;
    if (adding) this.boxes.splice(step.index, 0, step.box);
    else this.boxes.splice(step.index, 1);
  }

  /** Undoes the last change; returns the message to announce, or null if there was none. */
  undo() {
    const step = this.undoStack.pop();
    if (!step) return null;
    this.apply(step, false);
    this.redoStack.push(step);
    return "Undone";
  }

  /** Redoes the last undone change; returns the message to announce, or null if there was none. */
  redo() {
    const step = this.redoStack.pop();
    if (!step) return null;
    this.apply(step, true);
    this.undoStack.push(step);
    return "Redone";
  }

  /** Puts the first corner of a box at a pixel. */
  begin(at) {
    this.anchor = { x: at.x, y: at.y };
  }

  /** Whether a box is being drawn, and so the second corner is awaited. */
  get drawing() {
    return this.anchor !== null;
  }

  /** Drops the box being drawn; returns whether there was one. */
  cancel() {
    const had = Boolean(this.anchor);
    this.anchor = null;
    return had;
  }
}
