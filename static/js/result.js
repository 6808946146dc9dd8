// The result viewer (templates/runs/result.html): a codec result's original, reconstruction
// and matched JPEG side by side in the pixel-exact viewer (viewer.js), read-only. j and k
// follow the next and previous links the server wrote, so the order stepped through is the
// one the page was opened with (?sort=psnr: worst PSNR first). The view (zoom and centre) is
// kept from one result to the next of the same size, so the same pixels stay under the eye.
// An ES module, loaded with type="module" (deferred, same-origin: no inline script).
import { bindKeys, bindToolbar, Viewer } from "./viewer.js";

const VIEW_KEY = "miscomp-result-view";

(() => {
  const root = document.getElementById("result-viewer");
  if (!root) return;
  const viewer = new Viewer(root, JSON.parse(root.querySelector("#viewer-data").textContent));
  window.miscompViewer = viewer;
  bindToolbar(root, viewer);
  restoreView(viewer);
  window.addEventListener("pagehide", () => saveView(viewer));

  const follow = (selector) => {
    const link = document.querySelector(selector);
    if (link) window.location.assign(link.href);
  };
  const toggle = (selector) => root.querySelector(selector)?.click();
  bindKeys(viewer, {
    j: () => follow("[data-next]"),
    k: () => follow("[data-previous]"),
    m: () => toggle("[data-magnifier]"),
    l: () => toggle("[data-lines]"),
  });
})();

function saveView(viewer) {
  const { zoom, cx, cy, width, height } = viewer;
  try {
    window.sessionStorage.setItem(VIEW_KEY, JSON.stringify({ zoom, cx, cy, width, height }));
  } catch {
    // Storage off or full: the next result opens fitted, as without it.
  }
}

function restoreView(viewer) {
  let saved = null;
  try {
    saved = JSON.parse(window.sessionStorage.getItem(VIEW_KEY) || "null");
  } catch {
    saved = null;
  }
  if (!saved || saved.width !== viewer.width || saved.height !== viewer.height) return;
  viewer.setZoom(saved.zoom);
  viewer.pan((saved.cx - viewer.cx) * viewer.zoom, (saved.cy - viewer.cy) * viewer.zoom);
}
