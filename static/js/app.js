// Behaviour every page may use, kept out of the templates: the Content-Security-Policy
// allows no inline script or event handler (onclick=, onerror=...).
"use strict";

(() => {
  // <figure> holding <img data-hide-figure-on-error>: hidden when the image cannot be shown
  // (a plot of a dataset that has no finished results yet answers 404).
  function hideBrokenFigures(root) {
    root.querySelectorAll("img[data-hide-figure-on-error]").forEach((img) => {
      if (img.dataset.watched) return;
      img.dataset.watched = "true";
      const hide = () => {
        const figure = img.closest("figure");
        if (figure) figure.hidden = true;
      };
      // decode() settles once the image has loaded or failed, even if that happened before
      // this script ran.
      img.decode().catch(() => {
        if (!img.complete || img.naturalWidth === 0) hide();
      });
    });
  }

  function enhance(root) {
    if (root && root.querySelectorAll) hideBrokenFigures(root);
  }

  enhance(document);
  // Content htmx swaps in.
  document.addEventListener("htmx:load", (event) => enhance(event.target));
})();
