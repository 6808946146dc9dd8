// The viewer's box editor (static/js/viewer/boxes.js), apart from the page: `make jstest`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { BoxEditor, boxFrom, copyBox, describeBox } from "../../static/js/viewer/boxes.js";

const crop = { pane: "A", offset: { x: 0, y: 0 }, size: 64 };

describe("a box from two corners", () => {
  test("includes both corners, whichever comes first", () => {
    const box = { pane: "A", x: 3, y: 5, w: 8, h: 2 };
    assert.deepEqual(boxFrom({ x: 3, y: 5 }, { x: 10, y: 6 }, crop), box);
    assert.deepEqual(boxFrom({ x: 10, y: 6 }, { x: 3, y: 5 }, crop), box);
    assert.deepEqual(boxFrom({ x: 10, y: 5 }, { x: 3, y: 6 }, crop), box);
  });

  test("of one pixel when both corners are the same", () => {
    assert.deepEqual(boxFrom({ x: 63, y: 0 }, { x: 63, y: 0 }, crop), { pane: "A", x: 63, y: 0, w: 1, h: 1 });
  });

  test("is in crop pixels and cut to the crop when drawn on a wider context", () => {
    const context = { pane: "B", offset: { x: 32, y: 32 }, size: 64 };
    assert.deepEqual(boxFrom({ x: 40, y: 33 }, { x: 41, y: 35 }, context), { pane: "B", x: 8, y: 1, w: 2, h: 3 });
    assert.deepEqual(boxFrom({ x: 0, y: 10 }, { x: 127, y: 200 }, context), { pane: "B", x: 0, y: 0, w: 64, h: 64 });
  });
});

describe("boxes as the page shows and sends them", () => {
  test("a copy carries the rater only where there is one", () => {
    const mine = { pane: "A", x: 1, y: 2, w: 3, h: 4, extra: true };
    assert.deepEqual(copyBox(mine), { pane: "A", x: 1, y: 2, w: 3, h: 4 });
    assert.deepEqual(copyBox({ ...mine, rater: "r1" }), { pane: "A", x: 1, y: 2, w: 3, h: 4, rater: "r1" });
    assert.notEqual(copyBox(mine), mine);
  });

  test("each is described with its number, pane and inclusive pixel range", () => {
    assert.equal(describeBox({ pane: "A", x: 3, y: 5, w: 8, h: 1 }, 0), "Box 1 on A: x 3–10, y 5–5 ");
    assert.equal(describeBox({ pane: "B", x: 0, y: 0, w: 2, h: 2, rater: "ann" }, 4), "Box 5 by ann on B: x 0–1, y 0–1 ");
  });
});

describe("the box editor", () => {
  const a = { pane: "A", x: 0, y: 0, w: 1, h: 1 };
  const b = { pane: "B", x: 5, y: 5, w: 2, h: 2 };
  const c = { pane: "A", x: 9, y: 9, w: 3, h: 3 };

  test("starts from copies of the page's boxes, with nothing to undo", () => {
    const given = [{ ...a, rater: "r" }];
    const editor = new BoxEditor(given);
    assert.deepEqual(editor.boxes, given);
    assert.notEqual(editor.boxes[0], given[0]);
    assert.ok(!editor.canUndo && !editor.canRedo);
    assert.equal(editor.undo(), null);
    assert.equal(editor.redo(), null);
    assert.deepEqual(new BoxEditor().boxes, []);
  });

  test("adds, undoes and redoes, saying what it did", () => {
    const editor = new BoxEditor();
    assert.equal(editor.add(a), "Box 1 added on pane A");
    assert.equal(editor.add(b), "Box 2 added on pane B");
    assert.deepEqual(editor.boxes, [a, b]);
    assert.equal(editor.undo(), "Undone");
    assert.deepEqual(editor.boxes, [a]);
    assert.ok(editor.canUndo && editor.canRedo);
    assert.equal(editor.undo(), "Undone");
    assert.deepEqual(editor.boxes, []);
    assert.ok(!editor.canUndo);
    assert.equal(editor.redo(), "Redone");
    assert.equal(editor.redo(), "Redone");
    assert.deepEqual(editor.boxes, [a, b]);
    assert.ok(!editor.canRedo);
  });

  test("a removed box comes back at its place", () => {
    const editor = new BoxEditor([a, b, c]);
    assert.equal(editor.remove(1), "Box 2 removed");
    assert.deepEqual(editor.boxes, [a, c]);
    editor.undo();
    assert.deepEqual(editor.boxes, [a, b, c]);
    editor.redo();
    assert.deepEqual(editor.boxes, [a, c]);
  });

  test("a new change drops what could be redone", () => {
    const editor = new BoxEditor();
    editor.add(a);
    editor.undo();
    assert.ok(editor.canRedo);
    editor.add(b);
    assert.ok(!editor.canRedo);
    assert.equal(editor.redo(), null);
    assert.deepEqual(editor.boxes, [b]);
    editor.add(c);
    editor.undo();
    editor.remove(0);
    assert.ok(!editor.canRedo);
    assert.deepEqual(editor.boxes, []);
    editor.undo();
    editor.undo();
    assert.deepEqual(editor.boxes, []);
    editor.redo();
    editor.redo();
    assert.deepEqual(editor.boxes, []);
  });

  test("undoing a long history in reverse and redoing it forward", () => {
    const editor = new BoxEditor([a]);
    const seen = [editor.boxes.slice()];
    for (const step of [() => editor.add(b), () => editor.add(c), () => editor.remove(0), () => editor.remove(1), () => editor.add(a)]) {
      step();
      seen.push(editor.boxes.slice());
    }
    for (let i = seen.length - 2; i >= 0; i -= 1) {
      editor.undo();
      assert.deepEqual(editor.boxes, seen[i]);
    }
    for (let i = 1; i < seen.length; i += 1) {
      editor.redo();
      assert.deepEqual(editor.boxes, seen[i]);
    }
  });

  test("a box being drawn has its first corner until finished or cancelled", () => {
    const editor = new BoxEditor();
    assert.ok(!editor.drawing);
    assert.equal(editor.cancel(), false);
    const corner = { x: 4, y: 7, from: "keys" };
    editor.begin(corner);
    assert.ok(editor.drawing);
    assert.deepEqual(editor.anchor, { x: 4, y: 7 });
    corner.x = 99;
    assert.deepEqual(editor.anchor, { x: 4, y: 7 }); // a copy
    assert.equal(editor.cancel(), true);
    assert.ok(!editor.drawing);
    assert.deepEqual(editor.boxes, []); // drawing is not an undoable change
    assert.ok(!editor.canUndo);
  });
});
