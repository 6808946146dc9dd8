// The annotation workspace: labels and viewer from the keyboard, htmx between items.
//
// Label shortcuts come from the study's taxonomy (each input carries data-shortcut) and win
// over the viewer's keys, so a taxonomy made before a viewer key existed keeps working. The
// sheet on "?" lists every key. Keys typed into a text field stay there; Escape or Enter
// leaves the field, Ctrl+Enter submits from anywhere.
// The labels entered are kept as a draft in this browser (viewer/draft.js) on every change and
// put back when the page is shown again (a reload, a crash); a submission that is accepted
// clears it. An item the rater finished comes read-only; "Revise" (Enter) makes it editable.
// An ES module (loaded with type="module", so deferred like before): the Viewer from viewer.js.
import { bindToolbar, Viewer, viewKeys } from "./viewer.js";
import {
  clearDraft,
  collectDraft,
  controlState,
  draftKey,
  loadDraft,
  pruneDrafts,
  saveDraft,
} from "./viewer/draft.js";

(() => {
  let viewer = null;

  function workspace() {
    return document.getElementById("workspace");
  }

  /** localStorage, or null where the browser refuses it (storage disabled). */
  function drafts() {
    try {
      return window.localStorage;
    } catch {
      return null;
    }
  }

  function keyOf(root) {
    try {
      const { user, study, item, revision } = root.dataset;
      return draftKey({ user, study, item, revision: revision || null });
    } catch {
      return null;
    }
  }

  function applyDraft(form, draft) {
    for (const control of form.querySelectorAll("input, textarea")) {
      const state = controlState(draft, control);
      if (!state) continue;
      if ("checked" in state) control.checked = state.checked;
      else control.value = state.value;
    }
  }

  function tellDraft(root, text) {
    const status = root.querySelector("[data-draft-status]");
    if (status) status.textContent = text;
  }

  function start(root) {
    if (!root || root.dataset.started) return;
    root.dataset.started = "true";
    if (viewer) viewer.destroy();
    const data = JSON.parse(root.querySelector("#viewer-data").textContent);
    const form = root.querySelector("#labels");
    const store = drafts();
    const key = store && form ? keyOf(root) : null;
    const skipped = root.dataset.finished === "skipped";
    const draft = key && !skipped ? loadDraft(store, key, Date.now()) : null;
    if (draft) {
      data.boxes = draft.boxes;
      data.read_only = false; // a draft of a revision: the rater was revising
    }
    viewer = new Viewer(root, data);
    window.miscompViewer = viewer;
    bindControls(root);
    viewer.boxesChanged("");
    if (key) {
      // Labels accepted (or the item skipped): the draft has done its work; a refusal (422)
      // keeps it. Heard on the form itself, which htmx names even once it left the page.
      // A failure (no answer, or an error htmx does not swap in, such as the database's 503)
      // leaves the form as it was; app.js says why in the page's error area.
      const forget = (event) => {
        const status = event.detail.xhr ? event.detail.xhr.status : 0;
        if (status >= 200 && status < 300) clearDraft(store, key);
        else if (status === 0 || status >= 500) {
          tellDraft(root, "Not saved yet: your labels are kept on this page and in this browser.");
        }
      };
      for (const element of [form, root.querySelector("#skip")]) {
        if (element) element.addEventListener("htmx:afterRequest", forget);
      }
      if (draft) {
        if (root.dataset.finished === "done") revise(root);
        applyDraft(form, draft);
        root.dataset.draft = "restored";
        tellDraft(root, "Your unsaved labels were restored from this browser.");
      }
      const save = () => {
        if (root.dataset.finished) return;
        const kept = collectDraft(new FormData(form), viewer.boxes, Date.now());
        if (saveDraft(store, key, kept)) root.dataset.draft = "saved";
      };
      form.addEventListener("input", save);
      form.addEventListener("change", save);
      root.addEventListener("viewer:boxes", save);
    }
    // Once this item is on screen, the next one is leased and its images fetched: they are
    // in the cache when the rater submits (immutable URLs), so the next item shows at once.
    root.addEventListener("viewer:ready", () => prefetchNext(root), { once: true });
  }

  // The workspace's answers name the next item's images (data-prefetch); a page opened by
  // its address asks for them (data-ahead), which leases that item.
  async function prefetchNext(root) {
    try {
      const urls = root.dataset.prefetch ? JSON.parse(root.dataset.prefetch) : await askAhead(root);
      if (!urls) return;
      root.dataset.prefetched = String(urls.length);
      for (const url of urls) {
        const image = new Image();
        image.src = url;
      }
    } catch {
      // Only a prefetch: the next item then loads its images when it is shown.
    }
  }

  async function askAhead(root) {
    if (!root.dataset.ahead) return null;
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
    const response = await fetch(root.dataset.ahead, { method: "POST", headers: { "X-CSRF-Token": csrf } });
    if (!response.ok) return null;
    return (await response.json()).urls;
  }

  function bindControls(root) {
    bindToolbar(root, viewer);
    root.querySelector("[data-show-shortcuts]")?.addEventListener("click", () => toggleShortcuts());
    root.querySelector("[data-revise]")?.addEventListener("click", () => revise(root));
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

  /** A finished item's labels, editable: saving them makes a new revision. */
  function revise(root) {
    if (root.dataset.finished !== "done") return;
    delete root.dataset.finished;
    const fields = root.querySelector("[data-label-fields]");
    if (fields) fields.disabled = false;
    const button = root.querySelector("[data-revise]");
    if (button) button.hidden = true;
    const save = root.querySelector('#labels button[type="submit"]');
    if (save) save.hidden = false;
    const note = root.querySelector("[data-finished-note]");
    if (note) note.textContent = "Revising: Enter saves a new revision; every earlier version is kept.";
    if (viewer) viewer.setReadOnly(false);
  }

  function submit() {
    const root = workspace();
    if (root && root.dataset.finished) {
      revise(root); // on a finished item, Enter revises first; a skipped one stays as it is
      return;
    }
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

  const store = drafts();
  if (store) pruneDrafts(store, Date.now());
  start(workspace());
})();
