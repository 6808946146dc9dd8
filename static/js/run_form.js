// The New run form: only the chosen codec's parameter fields are shown and sent (the others
// are disabled, so the browser leaves them out). Without this script every codec's fieldset
// shows, and the server reads only the chosen codec's fields.
"use strict";

(() => {
  const codec = document.getElementById("run-codec");
  if (!codec) return;
  const fieldsets = document.querySelectorAll("[data-codec-params]");

  function showChosen() {
    fieldsets.forEach((fieldset) => {
      const chosen = fieldset.dataset.codecParams === codec.value;
      fieldset.hidden = !chosen;
      fieldset.disabled = !chosen;
    });
  }

  codec.addEventListener("change", showChosen);
  showChosen();
})();
