// The adjudication page: the item's panes in the viewer, every rater's boxes drawn on every
// pane, read-only (wheel and drag zoom and pan; the buttons flicker and overlay).
// An ES module (loaded with type="module", so deferred like before): the Viewer from viewer.js.
import { bindToolbar, Viewer } from "./viewer.js";

(() => {
  const root = document.getElementById("workspace");
  if (!root) return;
  const viewer = new Viewer(root, JSON.parse(root.querySelector("#viewer-data").textContent));
  window.miscompViewer = viewer;
  viewer.boxesChanged("");
  bindToolbar(root, viewer);
})();
