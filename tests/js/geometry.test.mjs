// The viewer's geometry (static/js/viewer/geometry.js), apart from the page: `make jstest`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as g from "../../static/js/viewer/geometry.js";

/** A view as the viewer holds it: canvas side (device px), shown image side, zoom, centre. */
const view = (over = {}) => ({ side: 600, shownSide: 64, zoom: 8, cx: 32, cy: 32, ...over });

describe("zoom levels", () => {
  test("are the integer zooms 1 to 16, fixed", () => {
    assert.deepEqual([...g.ZOOMS], [1, 2, 4, 8, 16]);
    assert.ok(Object.isFrozen(g.ZOOMS));
  });

  test("fit picks the largest zoom at which the whole image fits", () => {
    assert.equal(g.fitZoom({ side: 600, shownSide: 64 }), 8);
    assert.equal(g.fitZoom({ side: 512, shownSide: 64 }), 8); // exactly fits
    assert.equal(g.fitZoom({ side: 511, shownSide: 64 }), 4);
    assert.equal(g.fitZoom({ side: 600, shownSide: 256 }), 2);
    assert.equal(g.fitZoom({ side: 2048, shownSide: 64 }), 16); // never past the largest
    assert.equal(g.fitZoom({ side: 600, shownSide: 1000 }), 1); // none fits: 1
  });

  test("step up and down, null past either end", () => {
    assert.equal(g.stepZoom(view({ zoom: 8 }), 1), 16);
    assert.equal(g.stepZoom(view({ zoom: 8 }), -1), 4);
    assert.equal(g.stepZoom(view({ zoom: 16 }), 1), null);
    assert.equal(g.stepZoom(view({ zoom: 1 }), -1), null);
  });
});

describe("origin and pixel mapping", () => {
  test("the centre of the shown image", () => {
    assert.deepEqual(g.centre({ shownSide: 64 }), { cx: 32, cy: 32 });
    assert.deepEqual(g.centre({ shownSide: 127 }), { cx: 63.5, cy: 63.5 });
  });

  test("origin puts the centre at the canvas centre, on a whole device pixel", () => {
    assert.deepEqual(g.origin(view()), { x: 300 - 256, y: 300 - 256 });
    // 300.5 - 32 * 8 = 44.5 rounds to 45; a centre between pixels rounds too.
    assert.deepEqual(g.origin(view({ side: 601 })), { x: 45, y: 45 });
    assert.deepEqual(g.origin(view({ zoom: 16, cx: 10.3, cy: 0 })), { x: Math.round(300 - 164.8), y: 300 });
    for (const zoom of g.ZOOMS) {
      for (const cx of [0, 0.25, 17.5, 33.3, 64]) {
        const o = g.origin(view({ zoom, cx, cy: cx, side: 599 }));
        assert.ok(Number.isInteger(o.x) && Number.isInteger(o.y), `zoom ${zoom}, centre ${cx}`);
      }
    }
  });

  test("every image pixel covers exactly zoom x zoom device pixels", () => {
    for (const zoom of g.ZOOMS) {
      const v = view({ zoom, cx: 20.7, cy: 41.2, side: 613 });
      const o = g.origin(v);
      for (const px of [0, 1, 31, 63]) {
        for (let d = 0; d < zoom; d += 1) {
          const point = { x: o.x + px * zoom + d, y: o.y + (63 - px) * zoom + d + 0.5 };
          assert.deepEqual(g.pixelAt(v, point), { x: px, y: 63 - px }, `zoom ${zoom}, pixel ${px}, +${d}`);
        }
      }
      assert.deepEqual(g.pixelAt(v, { x: o.x - 0.5, y: o.y - 1 }), { x: -1, y: -1 });
    }
  });

  test("screen rectangles are whole multiples of the zoom from the origin", () => {
    assert.deepEqual(g.screenRect({ x: 44, y: 10 }, 8, 3, 5, 2, 4), { x: 68, y: 50, w: 16, h: 32 });
    assert.deepEqual(g.screenRect({ x: 0, y: 0 }, 1, 0, 0, 64, 64), { x: 0, y: 0, w: 64, h: 64 });
  });

  test("inside the shown image, edges included, one past excluded", () => {
    const v = view();
    assert.ok(g.inside(v, { x: 0, y: 0 }));
    assert.ok(g.inside(v, { x: 63, y: 63 }));
    assert.ok(!g.inside(v, { x: 64, y: 0 }));
    assert.ok(!g.inside(v, { x: 0, y: -1 }));
  });

  test("a client position becomes a device point through the canvas scale", () => {
    const rect = { left: 100, top: 50, width: 300, height: 300 };
    const canvas = { width: 600, height: 600 }; // devicePixelRatio 2
    assert.deepEqual(g.devicePoint({ clientX: 100, clientY: 50 }, rect, canvas), { x: 0, y: 0 });
    assert.deepEqual(g.devicePoint({ clientX: 250.5, clientY: 350 }, rect, canvas), { x: 301, y: 600 });
  });
});

describe("zoom and pan", () => {
  test("zooming around a point keeps the pixel under it", () => {
    const before = view({ zoom: 4, side: 600 });
    for (const around of [{ x: 300, y: 300 }, { x: 211, y: 377 }, { x: 180.5, y: 420.25 }]) {
      for (const zoom of [8, 16, 2]) {
        const after = { ...before, ...g.zoomTo(before, zoom, around) };
        assert.equal(after.zoom, zoom);
        assert.deepEqual(g.pixelAt(after, around), g.pixelAt(before, around), `to ${zoom} around ${around.x}`);
      }
    }
  });

  test("zooming without a point keeps the centre; zoom and centre are clamped", () => {
    assert.deepEqual(g.zoomTo(view({ cx: 10, cy: 50 }), 16), { zoom: 16, cx: 10, cy: 50 });
    assert.equal(g.zoomTo(view(), 64).zoom, 16);
    assert.equal(g.zoomTo(view(), 0).zoom, 1);
    // Zooming in around a point far outside the image would move the centre past the edge.
    assert.deepEqual(g.zoomTo(view({ zoom: 1 }), 16, { x: 0, y: 599 }), { zoom: 16, cx: 0, cy: 64 });
  });

  test("view functions never change the view they read", () => {
    const v = view({ cx: 70, cy: -3 });
    const copy = { ...v };
    g.zoomTo(v, 16, { x: 1, y: 2 });
    g.pan(v, 100, 100);
    g.clampCentre(v);
    g.moveCursor(v, null, "ArrowLeft");
    assert.deepEqual(v, copy);
  });

  test("panning moves the centre by device pixels over the zoom, kept inside the image", () => {
    assert.deepEqual(g.pan(view({ zoom: 8 }), 16, -8), { cx: 34, cy: 31 });
    assert.deepEqual(g.pan(view({ zoom: 1 }), 1000, -1000), { cx: 64, cy: 0 });
    assert.deepEqual(g.clampCentre({ shownSide: 128, cx: -0.5, cy: 128.5 }), { cx: 0, cy: 128 });
    assert.deepEqual(g.clampCentre({ shownSide: 128, cx: 12.25, cy: 128 }), { cx: 12.25, cy: 128 });
  });

  test("an arrow key pans an eighth of the canvas", () => {
    assert.deepEqual(g.keyPan(view({ side: 600 }), "ArrowRight"), { dx: 75, dy: 0 });
    assert.deepEqual(g.keyPan(view({ side: 604 }), "ArrowUp"), { dx: 0, dy: -76 });
    assert.deepEqual(g.keyPan(view({ side: 600 }), "ArrowLeft"), { dx: -75, dy: 0 });
    assert.deepEqual(g.keyPan(view({ side: 600 }), "ArrowDown"), { dx: 0, dy: 75 });
  });
});

describe("keyboard cursor and context", () => {
  test("starts at the pixel under the centre and moves one pixel", () => {
    const v = view({ cx: 20.9, cy: 7.1 });
    assert.deepEqual(g.centrePixel(v), { x: 20, y: 7 });
    assert.deepEqual(g.moveCursor(v, null, "ArrowRight"), { x: 21, y: 7 });
    assert.deepEqual(g.moveCursor(v, { x: 5, y: 5 }, "ArrowUp"), { x: 5, y: 4 });
  });

  test("stays inside the shown image", () => {
    const v = view();
    assert.deepEqual(g.moveCursor(v, { x: 0, y: 0 }, "ArrowLeft"), { x: 0, y: 0 });
    assert.deepEqual(g.moveCursor(v, { x: 63, y: 63 }, "ArrowDown"), { x: 63, y: 63 });
    assert.deepEqual(g.moveCursor(v, { x: 63, y: 63 }, "ArrowRight"), { x: 63, y: 63 });
  });

  test("a point keeps its place on the crop when the shown image changes", () => {
    // Crop at (0, 0) in itself, at (32, 16) in a wider context, and back.
    const widened = g.reframe({ x: 5, y: 6, from: "keys" }, { x: 0, y: 0 }, { x: 32, y: 16 });
    assert.deepEqual(widened, { x: 37, y: 22, from: "keys" });
    assert.deepEqual(g.reframe(widened, { x: 32, y: 16 }, { x: 0, y: 0 }), { x: 5, y: 6, from: "keys" });
  });

  test("the magnifier sits beside the cursor where there is room, on the canvas", () => {
    assert.deepEqual(g.magnifierAt(600, 132, 100, 100), { x: 124, y: 124 });
    assert.deepEqual(g.magnifierAt(600, 132, 500, 500), { x: 500 - 132 - 24, y: 500 - 132 - 24 });
    assert.deepEqual(g.magnifierAt(200, 132, 100, 40), { x: 0, y: 64 });
  });
});

describe("a whole image that is not square (the result viewer)", () => {
  // 768 x 512, as a Kodak photograph in landscape, on a 600-pixel canvas.
  const wide = (over = {}) => ({ side: 600, shownWidth: 768, shownHeight: 512, zoom: 1, cx: 384, cy: 256, ...over });

  test("shownWidth and shownHeight win over shownSide; shownSide alone is a square", () => {
    assert.deepEqual(g.extent(wide({ shownSide: 64 })), { w: 768, h: 512 });
    assert.deepEqual(g.extent({ shownSide: 64 }), { w: 64, h: 64 });
  });

  test("fit and centre use both sides", () => {
    assert.equal(g.fitZoom({ side: 600, shownWidth: 768, shownHeight: 512 }), 1);
    assert.equal(g.fitZoom({ side: 1600, shownWidth: 768, shownHeight: 512 }), 2);
    assert.equal(g.fitZoom({ side: 600, shownWidth: 100, shownHeight: 300 }), 2);
    assert.deepEqual(g.centre(wide()), { cx: 384, cy: 256 });
  });

  test("the centre is clamped to each side, and pan and zoom keep both", () => {
    assert.deepEqual(g.clampCentre(wide({ cx: 900, cy: 900 })), { cx: 768, cy: 512 });
    assert.deepEqual(g.pan(wide(), 1000, 1000), { cx: 768, cy: 512 });
    assert.deepEqual(g.zoomTo(wide(), 4), { zoom: 4, cx: 384, cy: 256 });
    // The image point under (400, 300) stays there: (800, 500) from origin (-400, -200).
    assert.deepEqual(g.zoomTo(wide({ cx: 700, cy: 500 }), 2, { x: 400, y: 300 }), { zoom: 2, cx: 750, cy: 500 });
  });

  test("a pixel is inside within each side; the cursor stays inside", () => {
    assert.ok(g.inside(wide(), { x: 767, y: 511 }));
    assert.ok(!g.inside(wide(), { x: 600, y: 512 }));
    assert.ok(g.inside(wide(), { x: 600, y: 511 }));
    assert.deepEqual(g.moveCursor(wide(), { x: 767, y: 511 }, "ArrowRight"), { x: 767, y: 511 });
    assert.deepEqual(g.moveCursor(wide(), { x: 700, y: 511 }, "ArrowDown"), { x: 700, y: 511 });
  });
});
