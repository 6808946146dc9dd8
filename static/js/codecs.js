// The codecs page: a refused fetch (422, 409) comes back as the weights panel with its
// reason; htmx swaps only 2xx answers unless told to.
"use strict";

document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if ((status === 409 || status === 422) && event.detail.target.id === "weights") {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
