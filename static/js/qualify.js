// The qualification round: a control item's panes in the viewer (read-only: no boxes), the
// verdict by click or by its key (the taxonomy's shortcut on each radio), Enter answers.
// An ES module (loaded with type="module", so deferred): the Viewer from viewer.js.
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
  on("[data-fit]", "click", () => viewer.fit());
  on("[data-flicker]", "click", () => viewer.toggleFlicker());
  on("[data-pair]", "change", (e) => viewer.setPair(Number(e.target.value)));
  on("[data-overlay]", "click", () => viewer.toggleOverlay());
  const form = document.getElementById("qualification-answer");
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
    if (target instanceof HTMLInputElement && target.type !== "radio") return;
    if (target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
    if (event.key === "Enter") {
      if (target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement) return;
      form.requestSubmit();
      event.preventDefault();
      return;
    }
    const verdict = form.querySelector(`input[data-shortcut="${CSS.escape(event.key)}"]`);
    if (verdict) {
      verdict.click();
      event.preventDefault();
    }
  });
})();
