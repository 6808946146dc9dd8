// The annotation workspace: labels and viewer from the keyboard, htmx between items.
//
// Label shortcuts come from the study's taxonomy (each input carries data-shortcut) and win
// over the viewer's keys, so a taxonomy made before a viewer key existed keeps working. The
// sheet on "?" lists every key. Keys typed into a text field stay there; Escape or Enter
// leaves the field, Ctrl+Enter submits from anywhere.
// An ES module (loaded with type="module", so deferred like before): the Viewer from viewer.js.
import { bindToolbar, Viewer, viewKeys } from "./viewer.js";

(() => {
  let viewer = null;

  function workspace() {
    return document.getElementById("workspace");
  }

  function start(root) {
    if (!root || root.dataset.started) return;
    root.dataset.started = "true";
    if (viewer) viewer.destroy();
    const data = JSON.parse(root.querySelector("#viewer-data").textContent);
    viewer = new Viewer(root, data);
    window.miscompViewer = viewer;
    bindControls(root);
    viewer.boxesChanged("");
    // Once this item is on screen, the next one is leased and its images fetched: they are
    // in the cache when the rater submits (immutable URLs), so the next item shows at once.
    root.addEventListener("viewer:ready", () => prefetchNext(root), { once: true });
  }

  async function prefetchNext(root) {
    if (!root.dataset.ahead) return;
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
    try {
      const response = await fetch(root.dataset.ahead, { method: "POST", headers: { "X-CSRF-Token": csrf } });
      if (!response.ok) return;
      const { urls } = await response.json();
      root.dataset.prefetched = String(urls.length);
      for (const url of urls) {
        const image = new Image();
        image.src = url;
      }
    } catch {
      // Only a prefetch: the next item then loads its images when it is shown.
    }
  }

  function bindControls(root) {
    bindToolbar(root, viewer);
    root.querySelector("[data-show-shortcuts]")?.addEventListener("click", () => toggleShortcuts());
  }

  function toggleShortcuts() {
    const sheet = document.getElementById("shortcuts");
    if (!sheet) return;
    if (sheet.open) sheet.close();
    else sheet.showModal();
  }

  function toggleInstructions() {
    const details = document.querySelector("details.instructions");
    if (details) details.open = !details.open;
  }

  function focusField(name) {
    const field = document.querySelector(`#labels [name="${name}"]`);
    if (field) field.focus();
  }

  function submit() {
    document.getElementById("labels")?.requestSubmit();
  }

  function clickSelector(selector) {
    const element = document.querySelector(selector);
    if (element) element.click();
  }

  // Keys by event.key, besides the viewer's own (viewKeys); checked after the taxonomy's
  // own shortcuts.
  const KEYS = {
    k: () => clickSelector("[data-magnifier]"),
    j: () => clickSelector("[data-lines]"),
    c: () => viewer.cycleContext(),
    ";": () => viewer.cycleActive(),
    x: () => viewer.startOrFinishBox(),
    z: () => viewer.undo(),
    Z: () => viewer.redo(),
    o: () => focusField("original_shows"),
    r: () => focusField("compressed_shows"),
    e: () => focusField("note"),
    i: () => toggleInstructions(),
    "?": () => toggleShortcuts(),
    ".": () => document.getElementById("skip")?.requestSubmit(),
    ",": () => clickSelector("[data-back]"),
    Enter: () => submit(),
  };

  function onKey(event) {
    if (!viewer || !workspace()) return;
    const target = event.target;
    const typing =
      target instanceof HTMLTextAreaElement ||
      (target instanceof HTMLInputElement && ["text", "search", "number"].includes(target.type)) ||
      target instanceof HTMLSelectElement;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      submit();
      event.preventDefault();
      return;
    }
    if (typing) {
      const leave = event.key === "Escape" || (event.key === "Enter" && !(target instanceof HTMLTextAreaElement));
      if (leave && !(target instanceof HTMLSelectElement)) {
        target.blur();
        event.preventDefault();
      }
      return;
    }
    if (document.getElementById("shortcuts")?.open && event.key !== "?" && event.key !== "Escape") return;
    if ((event.ctrlKey || event.metaKey) && !event.altKey) {
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) viewer.undo();
      else if ((key === "z" && event.shiftKey) || key === "y") viewer.redo();
      else return;
      event.preventDefault();
      return;
    }
    if (event.altKey) return;
    if (event.key === "Escape") {
      if (viewer.cancelBox()) event.preventDefault();
      return;
    }
    if (event.key.startsWith("Arrow")) {
      if (event.shiftKey) viewer.moveCursor(event.key);
      else viewer.panByKey(event.key);
      event.preventDefault();
      return;
    }
    // Shift+1..5: confidence (by the key's place, whatever the keyboard layout prints).
    const digit = /^Digit([1-5])$/.exec(event.code);
    if (event.shiftKey && digit) {
      document.querySelector(`#labels input[name=confidence][value="${digit[1]}"]`)?.click();
      event.preventDefault();
      return;
    }
    const labelInput = document.querySelector(`#labels input[data-shortcut="${CSS.escape(event.key)}"]`);
    if (labelInput) {
      labelInput.click();
      event.preventDefault();
      return;
    }
    if (target instanceof HTMLButtonElement && event.key === "Enter") return; // the button's own
    const action = KEYS[event.key] || viewKeys(viewer)[event.key];
    if (action) {
      action();
      event.preventDefault();
    }
  }

  document.addEventListener("keydown", onKey);

  // A refused submission (422) comes back as the filled-in form with its reason: show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    const root = workspace();
    if (root && !root.dataset.started) {
      start(root);
      document.title = `${root.dataset.title} · miscomp`;
    }
  });

  start(workspace());
})();
