// An audit's page (templates/pair_audits/detail.html): the pair in the pixel-exact viewer
// (viewer.js), read-only, with the detector's score map as an overlay and its riskiest regions
// drawn as numbered boxes; each region's "Show" button zooms the panes onto it. The page polls
// while the worker audits (htmx replaces the section), so the viewer starts when the finished
// section arrives as well as on load.
// An ES module, loaded with type="module" (deferred, same-origin: no inline script).
import { bindKeys, bindToolbar, showRegion, Viewer } from "./viewer.js";

function start() {
  const root = document.getElementById("audit-viewer");
  if (!root || root.dataset.started) return;
  root.dataset.started = "true";
  const viewer = new Viewer(root, JSON.parse(root.querySelector("#viewer-data").textContent));
  window.miscompViewer = viewer;
  viewer.boxesChanged("");
  bindToolbar(root, viewer);
  const toggle = (selector) => root.querySelector(selector)?.click();
  bindKeys(viewer, { m: () => toggle("[data-magnifier]"), l: () => toggle("[data-lines]") });
  document.querySelectorAll("[data-show-region]").forEach((button) => {
    button.addEventListener("click", () => {
      const [x, y, size] = button.dataset.showRegion.split(",").map(Number);
      showRegion(viewer, { x, y, size });
      root.scrollIntoView({ block: "nearest" });
    });
  });
}

start();
document.addEventListener("htmx:afterSettle", start);
