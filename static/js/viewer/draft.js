// Drafts of the workspace's labels, kept in the browser's own storage (localStorage) so that a
// reload, a crash or a closed tab loses nothing the rater entered. Pure: the storage is passed
// in (anything with getItem, setItem, removeItem, key and length), so `make jstest` runs it
// apart from the page. Drafts never leave the browser: nothing here sends them anywhere.
//
// A draft belongs to one rater, one study and one item (the rater's assignment, as the page's
// URL names it); a revision of a finished item has a draft of its own, per revision it starts
// from. Drafts are cleared when the labels are accepted, and forgotten after DRAFT_MAX_AGE_MS.

export const DRAFT_PREFIX = "miscomp:draft:v1:";
export const DRAFT_MAX_AGE_MS = 14 * 24 * 60 * 60 * 1000;

/** Fields with one value (radio buttons, text) and with several (checkboxes). */
export const SINGLE_FIELDS = ["verdict", "confidence", "original_shows", "compressed_shows", "note"];
export const MULTIPLE_FIELDS = ["categories", "modifiers", "seen_in"];

/** The storage key of a draft: the rater, the study, the item, and the revision it revises. */
export function draftKey({ user, study, item, revision = null }) {
  for (const [name, value] of Object.entries({ user, study, item })) {
    if (!/^[0-9]+$/.test(String(value ?? ""))) throw new Error(`draft key: ${name} must be an id`);
  }
  const base = `${DRAFT_PREFIX}u${user}:s${study}:i${item}`;
  return revision ? `${base}:r${revision}` : base;
}

/**
 * A draft from a form's entries (name, value pairs, as FormData gives them) and the viewer's
 * boxes; other fields (csrf token, submission id) are left out.
 */
export function collectDraft(entries, boxes, now) {
  const fields = {};
  for (const name of MULTIPLE_FIELDS) fields[name] = [];
  for (const [name, value] of entries) {
    if (typeof value !== "string") continue;
    if (SINGLE_FIELDS.includes(name)) fields[name] = value;
    else if (MULTIPLE_FIELDS.includes(name)) fields[name].push(value);
  }
  return { savedAt: now, fields, boxes: cleanBoxes(boxes) };
}

/** Whether a draft holds nothing worth keeping. */
export function isEmptyDraft(draft) {
  const { fields, boxes } = draft;
  const single = SINGLE_FIELDS.some((name) => typeof fields[name] === "string" && fields[name].trim() !== "");
  const multiple = MULTIPLE_FIELDS.some((name) => Array.isArray(fields[name]) && fields[name].length > 0);
  return !single && !multiple && boxes.length === 0;
}

function cleanBoxes(boxes) {
  if (!Array.isArray(boxes)) return [];
  return boxes
    .filter(
      (b) =>
        b &&
        typeof b.pane === "string" &&
        ["x", "y", "w", "h"].every((k) => Number.isInteger(b[k]) && b[k] >= 0),
    )
    .map((b) => ({ pane: b.pane, x: b.x, y: b.y, w: b.w, h: b.h }));
}

/**
 * A stored draft read back, checked field by field: null when the text is not a draft (another
 * version, edited by hand, truncated) or older than DRAFT_MAX_AGE_MS.
 */
export function parseDraft(text, now) {
  let raw;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!raw || typeof raw !== "object" || typeof raw.savedAt !== "number") return null;
  if (now - raw.savedAt > DRAFT_MAX_AGE_MS || !raw.fields || typeof raw.fields !== "object") return null;
  const fields = {};
  for (const name of SINGLE_FIELDS) {
    if (typeof raw.fields[name] === "string") fields[name] = raw.fields[name];
  }
  for (const name of MULTIPLE_FIELDS) {
    const values = raw.fields[name];
    fields[name] = Array.isArray(values) ? values.filter((v) => typeof v === "string") : [];
  }
  return { savedAt: raw.savedAt, fields, boxes: cleanBoxes(raw.boxes) };
}

/** Keeps the draft (an empty one removes the key). False when the storage refused it (full). */
export function saveDraft(storage, key, draft) {
  try {
    if (isEmptyDraft(draft)) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(draft));
    return true;
  } catch {
    return false;
  }
}

/** The draft under key, or null; a stale or unreadable one is removed. */
export function loadDraft(storage, key, now) {
  const text = storage.getItem(key);
  if (text === null) return null;
  const draft = parseDraft(text, now);
  if (draft === null || isEmptyDraft(draft)) {
    storage.removeItem(key);
    return null;
  }
  return draft;
}

export function clearDraft(storage, key) {
  storage.removeItem(key);
}

/** Removes every stale or unreadable draft; other keys of the site are left alone. */
export function pruneDrafts(storage, now) {
  const keys = [];
  for (let i = 0; i < storage.length; i += 1) {
    const key = storage.key(i);
    if (key !== null && key.startsWith(DRAFT_PREFIX)) keys.push(key);
  }
  let removed = 0;
  for (const key of keys) {
    if (parseDraft(storage.getItem(key), now) === null) {
      storage.removeItem(key);
      removed += 1;
    }
  }
  return removed;
}

/**
 * How to show a draft in the form: for each control (name, value, type), whether it is
 * checked (radio, checkbox) or the text it holds. Controls the draft does not name keep what
 * they have (undefined).
 */
export function controlState(draft, { name, value, type }) {
  const { fields } = draft;
  if (MULTIPLE_FIELDS.includes(name)) return { checked: fields[name].includes(value) };
  if (!SINGLE_FIELDS.includes(name)) return undefined;
  if (type === "radio") return { checked: fields[name] === value };
  return { value: fields[name] ?? "" };
}
