// The adjudication page: the item's panes in the viewer, every rater's boxes drawn on every
// pane, read-only (wheel and drag zoom and pan; the buttons flicker and overlay).
// An ES module (loaded with type="module", so deferred like before): the Viewer from viewer.js.
import { Viewer } from "./viewer.js";

(() => {
  const root = document.getElementById("workspace");
  if (!root) return;
  const viewer = new Viewer(root, JSON.parse(root.querySelector("#viewer-data").textContent));
  window.miscompViewer = viewer;
  viewer.boxesChanged("");
  const on = (selector, type, handler) => root.querySelector(selector)?.addEventListener(type, handler);
  on("[data-zoom-in]", "click", () => viewer.zoomStep(1));
  on("[data-zoom-out]", "click", () => viewer.zoomStep(-1));
  on("[data-zoom-select]", "change", (e) => viewer.setZoom(Number(e.target.value)));
  on("[data-flicker]", "click", () => viewer.toggleFlicker());
  on("[data-pair]", "change", (e) => viewer.setPair(Number(e.target.value)));
  on("[data-overlay]", "click", () => viewer.toggleOverlay());
})();
