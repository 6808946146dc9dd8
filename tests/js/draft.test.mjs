// Drafts of the workspace's labels (static/js/viewer/draft.js), apart from the page: `make jstest`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  DRAFT_MAX_AGE_MS,
  clearDraft,
  collectDraft,
  controlState,
  draftKey,
  isEmptyDraft,
  loadDraft,
  parseDraft,
  pruneDrafts,
  saveDraft,
} from "../../static/js/viewer/draft.js";

/** localStorage as the browser has it, over a Map; `full` makes setItem throw as a full one does. */
class MemoryStorage {
  constructor() {
    this.items = new Map();
    this.full = false;
  }
  get length() {
    return this.items.size;
  }
  key(i) {
    return [...this.items.keys()][i] ?? null;
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    if (this.full) throw new Error("QuotaExceededError");
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

const NOW = 1_800_000_000_000;
const ENTRIES = [
  ["csrf_token", "secret"],
  ["client_id", "abc"],
  ["verdict", "miscompression"],
  ["categories", "shape"],
  ["modifiers", "symbol"],
  ["seen_in", "A"],
  ["confidence", "4"],
  ["original_shows", "a zero"],
  ["compressed_shows", ""],
  ["note", "look at the top"],
  ["boxes", "[]"],
];
const BOX = { pane: "A", x: 3, y: 4, w: 5, h: 6 };

describe("a draft's key", () => {
  test("names the rater, the study, the item and the revision it starts from", () => {
    assert.equal(draftKey({ user: 7, study: 2, item: 41 }), "miscomp:draft:v1:u7:s2:i41");
    assert.equal(draftKey({ user: "7", study: "2", item: "41", revision: "3" }), "miscomp:draft:v1:u7:s2:i41:r3");
    assert.notEqual(draftKey({ user: 8, study: 2, item: 41 }), draftKey({ user: 7, study: 2, item: 41 }));
  });

  test("refuses what is not an id, so two items never share a draft", () => {
    assert.throws(() => draftKey({ user: 7, study: 2, item: undefined }), /item must be an id/);
    assert.throws(() => draftKey({ user: "7:s1", study: 2, item: 4 }), /user must be an id/);
  });
});

describe("collecting a draft", () => {
  test("keeps the labels and boxes, not the token or the submission id", () => {
    const draft = collectDraft(ENTRIES, [BOX], NOW);
    assert.deepEqual(draft, {
      savedAt: NOW,
      fields: {
        verdict: "miscompression",
        categories: ["shape"],
        modifiers: ["symbol"],
        seen_in: ["A"],
        confidence: "4",
        original_shows: "a zero",
        compressed_shows: "",
        note: "look at the top",
      },
      boxes: [BOX],
    });
    assert.equal(isEmptyDraft(draft), false);
  });

  test("of an untouched form is empty", () => {
    const draft = collectDraft([["csrf_token", "x"], ["note", "  "]], [], NOW);
    assert.equal(isEmptyDraft(draft), true);
    assert.equal(isEmptyDraft(collectDraft([], [BOX], NOW)), false); // a box alone is worth keeping
  });
});

describe("storing drafts", () => {
  const key = draftKey({ user: 1, study: 2, item: 3 });

  test("round-trips, and clearing removes it", () => {
    const storage = new MemoryStorage();
    const draft = collectDraft(ENTRIES, [BOX], NOW);
    assert.equal(saveDraft(storage, key, draft), true);
    assert.deepEqual(loadDraft(storage, key, NOW + 1000), draft);
    clearDraft(storage, key);
    assert.equal(loadDraft(storage, key, NOW), null);
  });

  test("an empty draft removes the one before", () => {
    const storage = new MemoryStorage();
    saveDraft(storage, key, collectDraft(ENTRIES, [], NOW));
    saveDraft(storage, key, collectDraft([], [], NOW));
    assert.equal(storage.length, 0);
  });

  test("a full storage is reported, not thrown", () => {
    const storage = new MemoryStorage();
    storage.full = true;
    assert.equal(saveDraft(storage, key, collectDraft(ENTRIES, [], NOW)), false);
  });

  test("stale or unreadable drafts are dropped, other keys are left alone", () => {
    const storage = new MemoryStorage();
    const other = draftKey({ user: 1, study: 2, item: 4 });
    saveDraft(storage, key, collectDraft(ENTRIES, [], NOW - DRAFT_MAX_AGE_MS - 1));
    storage.setItem(other, "{not json");
    storage.setItem("theme", "dark");
    const fresh = draftKey({ user: 1, study: 2, item: 5 });
    saveDraft(storage, fresh, collectDraft(ENTRIES, [], NOW));
    assert.equal(pruneDrafts(storage, NOW), 2);
    assert.deepEqual([...storage.items.keys()].sort(), [fresh, "theme"].sort());
    storage.setItem(key, JSON.stringify({ savedAt: NOW - DRAFT_MAX_AGE_MS - 1, fields: {}, boxes: [] }));
    assert.equal(loadDraft(storage, key, NOW), null);
    assert.equal(storage.getItem(key), null);
  });
});

describe("reading a stored draft", () => {
  test("keeps only well-formed fields and boxes", () => {
    const text = JSON.stringify({
      savedAt: NOW,
      fields: { verdict: 3, categories: ["shape", 9], note: "ok", extra: "x" },
      boxes: [BOX, { pane: "A", x: -1, y: 0, w: 1, h: 1 }, { pane: 2, x: 0, y: 0, w: 1, h: 1 }, null, { ...BOX, evil: true }],
    });
    assert.deepEqual(parseDraft(text, NOW), {
      savedAt: NOW,
      fields: { note: "ok", categories: ["shape"], modifiers: [], seen_in: [] },
      boxes: [BOX, BOX],
    });
  });

  test("is null for what is not a draft", () => {
    for (const text of ["", "null", "[]", '"x"', '{"fields": {}}', '{"savedAt": 1}']) {
      assert.equal(parseDraft(text, NOW), null, text);
    }
  });
});

describe("showing a draft in the form", () => {
  const draft = collectDraft(ENTRIES, [], NOW);

  test("checks what it chose and unchecks the rest", () => {
    assert.deepEqual(controlState(draft, { name: "verdict", value: "miscompression", type: "radio" }), { checked: true });
    assert.deepEqual(controlState(draft, { name: "verdict", value: "unsure", type: "radio" }), { checked: false });
    assert.deepEqual(controlState(draft, { name: "categories", value: "shape", type: "checkbox" }), { checked: true });
    assert.deepEqual(controlState(draft, { name: "categories", value: "amplitude", type: "checkbox" }), { checked: false });
    assert.deepEqual(controlState(draft, { name: "confidence", value: "5", type: "radio" }), { checked: false });
  });

  test("fills the text fields and leaves other controls alone", () => {
    assert.deepEqual(controlState(draft, { name: "note", value: "", type: "textarea" }), { value: "look at the top" });
    assert.deepEqual(controlState(draft, { name: "compressed_shows", value: "x", type: "text" }), { value: "" });
    assert.equal(controlState(draft, { name: "client_id", value: "abc", type: "hidden" }), undefined);
    assert.equal(controlState(draft, { name: "boxes", value: "[]", type: "hidden" }), undefined);
  });
});
