// Upload with a progress bar: the browser's own form post shows none for large uploads.
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.hidden = false; bar.value = (100 * e.loaded) / e.total; }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400) { window.location.assign(xhr.responseURL); return; }
      document.open(); document.write(xhr.responseText); document.close();
    });
    xhr.addEventListener("error", function () { alert("Upload failed: network error. Nothing was imported."); });
    form.querySelector("button[type=submit]").disabled = true;
    xhr.send(new FormData(form));
  });
})();
