// The viewer's geometry: integer zoom, the integer origin, pan, and the mapping between
// device pixels on a pane's canvas and pixels of the shown image.
//
// Pure functions, no DOM: they read a view and return new values, never change it. A view is
// any object with
//   side       the canvas side in device pixels (every pane is a square of this side),
//   shownSide  the side of the shown image in image pixels (the crop, or a wider context),
//              or shownWidth and shownHeight for a shown image that is not square (a whole
//              image in the result viewer; see extent),
//   zoom       screen pixels per image pixel, one of ZOOMS,
//   cx, cy     the image point (in image pixels, not always whole) at the canvas centre.
// The viewer passes itself. Points are device pixels on the canvas; pixels are whole image
// pixels. Each image pixel covers exactly zoom x zoom device pixels from an integer origin,
// so nothing is resampled.

export const ZOOMS = Object.freeze([1, 2, 4, 8, 16]);

const ARROWS = Object.freeze({
  ArrowLeft: Object.freeze([-1, 0]),
  ArrowRight: Object.freeze([1, 0]),
  ArrowUp: Object.freeze([0, -1]),
  ArrowDown: Object.freeze([0, 1]),
});

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

/** The shown image's width and height in image pixels: shownWidth and shownHeight where the view has them, else shownSide for both. */
export function extent(view) {
  return { w: view.shownWidth ?? view.shownSide, h: view.shownHeight ?? view.shownSide };
}

/** The largest zoom at which the whole shown image fits the canvas (1 if none does). */
export function fitZoom(view) {
  const { w, h } = extent(view);
  const fits = ZOOMS.filter((z) => Math.max(w, h) * z <= view.side);
  return fits.length ? fits[fits.length - 1] : 1;
}

/** The centre of the shown image. */
export function centre(view) {
  const { w, h } = extent(view);
  return { cx: w / 2, cy: h / 2 };
}

/** A view's size alone (no zoom or centre), for the functions that clamp a new centre. */
const sized = (view) => {
  const { w, h } = extent(view);
  return { shownWidth: w, shownHeight: h };
};

/** Device pixel where the shown image's (0, 0) lands: an integer, so pixels stay exact. */
export function origin(view) {
  return {
    x: Math.round(view.side / 2 - view.cx * view.zoom),
    y: Math.round(view.side / 2 - view.cy * view.zoom),
  };
}

/** The view's centre moved inside the shown image (its edges included). */
export function clampCentre(view) {
  const { w, h } = extent(view);
  return { cx: clamp(view.cx, 0, w), cy: clamp(view.cy, 0, h) };
}

/** A pointer's client position as a device point on a canvas shown in the client rect. */
export function devicePoint(client, rect, canvas) {
  return {
    x: ((client.clientX - rect.left) * canvas.width) / rect.width,
    y: ((client.clientY - rect.top) * canvas.height) / rect.height,
  };
}

/** The image pixel under a device point (may lie outside the image: see inside). */
export function pixelAt(view, point) {
  const o = origin(view);
  return { x: Math.floor((point.x - o.x) / view.zoom), y: Math.floor((point.y - o.y) / view.zoom) };
}

/** Whether a pixel lies in the shown image. */
export function inside(view, pixel) {
  const { w, h } = extent(view);
  return pixel.x >= 0 && pixel.y >= 0 && pixel.x < w && pixel.y < h;
}

/** Device rectangle of image pixels x..x+w-1, y..y+h-1, drawn from origin o at zoom z. */
export function screenRect(o, z, x, y, w, h) {
  return { x: o.x + x * z, y: o.y + y * z, w: w * z, h: h * z };
}

/**
 * The view at another zoom (clamped to ZOOMS' range). With a device point `around`, the
 * image point under it stays under it; without, the centre stays. The centre is clamped.
 */
export function zoomTo(view, zoom, around) {
  const next = clamp(zoom, ZOOMS[0], ZOOMS[ZOOMS.length - 1]);
  let { cx, cy } = view;
  if (around) {
    const o = origin(view);
    const px = (around.x - o.x) / view.zoom;
    const py = (around.y - o.y) / view.zoom;
    cx = px - (around.x - view.side / 2) / next;
    cy = py - (around.y - view.side / 2) / next;
  }
  return { zoom: next, ...clampCentre({ ...sized(view), cx, cy }) };
}

/** The next zoom up (direction 1) or down (-1) from the view's, or null past either end. */
export function stepZoom(view, direction) {
  const index = ZOOMS.indexOf(view.zoom) + direction;
  return index >= 0 && index < ZOOMS.length ? ZOOMS[index] : null;
}

/** The centre after dragging the image by (dx, dy) device pixels the other way; clamped. */
export function pan(view, dx, dy) {
  return clampCentre({ ...sized(view), cx: view.cx + dx / view.zoom, cy: view.cy + dy / view.zoom });
}

/** The device-pixel pan an arrow key makes: an eighth of the canvas. */
export function keyPan(view, key) {
  const step = Math.round(view.side / 8);
  const [dx, dy] = ARROWS[key];
  return { dx: dx * step, dy: dy * step };
}

/** The pixel under the view's centre, where the keyboard cursor starts. */
export function centrePixel(view) {
  return { x: Math.floor(view.cx), y: Math.floor(view.cy) };
}

/** The keyboard cursor one pixel along an arrow key, from `start` (else the centre pixel), kept in the image. */
export function moveCursor(view, start, key) {
  const [dx, dy] = ARROWS[key];
  const from = start || centrePixel(view);
  const { w, h } = extent(view);
  return { x: clamp(from.x + dx, 0, w - 1), y: clamp(from.y + dy, 0, h - 1) };
}

/** A point in one shown image's pixels moved to another's, the crop sitting at `before`, then `after`. */
export function reframe(point, before, after) {
  return { ...point, x: point.x - before.x + after.x, y: point.y - before.y + after.y };
}

/**
 * Where the magnifier goes on a canvas of `side` device pixels: a lens of `lens` device
 * pixels beside the cursor at device point (px, py), on whichever side has room, kept on
 * the canvas.
 */
export function magnifierAt(side, lens, px, py) {
  const at = {
    x: px + lens + 24 < side ? px + 24 : px - lens - 24,
    y: py + lens + 24 < side ? py + 24 : py - lens - 24,
  };
  return { x: clamp(at.x, 0, side - lens), y: clamp(at.y, 0, side - lens) };
}
