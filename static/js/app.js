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

  // An htmx request that fails (an error status htmx does not swap in, such as the 503 of a
  // database that is restarting, or no answer at all) says so in the page's error area
  // (#request-error, base.html) in the server's own words, and the page keeps what it holds:
  // a form being filled in stays filled in, to be sent again. The next request clears it.
  function requestError() {
    return document.getElementById("request-error");
  }

  /** The server's message in an error answer: JSON's detail, or an error page's alert. */
  function messageOf(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    try {
      if (type.includes("json")) {
        const detail = JSON.parse(xhr.responseText).detail;
        if (typeof detail === "string") return detail;
      } else if (type.includes("html")) {
        const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        for (const alert of page.querySelectorAll("#main [role=alert]")) {
          if (alert.textContent.trim()) return alert.textContent.trim();
        }
      }
    } catch {
      // an answer that is not what its type says: the status alone, below
    }
    return `The server answered ${xhr.status} ${xhr.statusText}. What you entered is still on this page: try again.`;
  }

  function showRequestError(text) {
    const area = requestError();
    if (!area) return;
    area.textContent = text;
    area.hidden = false;
  }

  document.addEventListener("htmx:beforeRequest", () => {
    const area = requestError();
    if (area) area.hidden = true;
  });
  document.addEventListener("htmx:responseError", (event) => {
    showRequestError(messageOf(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", () => {
    showRequestError(
      "The server could not be reached. Nothing you entered is lost: try again in a few seconds."
    );
  });
})();
