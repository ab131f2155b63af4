// The annotate page: one image at a time, number keys, prefetching so that labeling never waits.
const queue = [];           // leased items not yet labeled here, the first one on screen
const done = new Set();     // image ids labeled or skipped in this page
const undoStack = [];       // {annotationId, item}
let fetching = null;
const $ = (id) => document.getElementById(id);
const CONFIG = JSON.parse($("annotate-config").textContent);
const KEY_TO_CLASS = new Map(CONFIG.keys.map((k, i) => [k, CONFIG.classes[i]]).filter(([k]) => k));
let displayed = null;       // the item on screen
let shownAt = null;         // when it was painted (performance.now()); null while it loads
let lastActivity = Date.now();
let labeledHere = 0;        // labels given in this page (the undo stack also holds earlier ones)
// Multi-label projects: the class keys switch classes on and off for the image on screen, Enter saves
// the set (none switched on: an explicit "none of the classes").
const MULTI = !!CONFIG.multi_label;
const toggled = new Set();

function showToggled() {
  if (!MULTI) return;
  for (const b of document.querySelectorAll("button.cls")) {
    const on = toggled.has(b.dataset.class);
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  const chosen = CONFIG.classes.filter((c) => toggled.has(c));
  $("chosen").classList.toggle("none", !chosen.length);
  $("chosen").innerHTML = "<kbd>Enter</kbd> saves: " +
    (chosen.length ? `<b>${chosen.map(escapeHtml).join(", ")}</b>` : "<b>none of the classes</b>");
}

function toggle(cls) {
  if (!queue.length) return;
  if (toggled.has(cls)) toggled.delete(cls); else toggled.add(cls);
  showToggled();
}

let errorUntil = 0;
function say(text, isError) {
  // A refusal stays readable for a moment: the answer to the label before it must not wipe it out.
  if (!isError && performance.now() < errorUntil) return;
  if (isError) errorUntil = performance.now() + 2000;
  $("msg").textContent = text || "";
  $("msg").className = isError ? "error" : "";
}

function preload(item) {
  const img = new Image();
  img.src = item.file_url;
}

async function refill() {
  if (fetching) return fetching;
  fetching = (async () => {
    const r = await api("POST", "/api/queue/next", { n: 6 });
    fetching = null;
    if (!r.ok) { say(r.body.detail, true); return; }
    const known = new Set(queue.map((i) => i.image_id));
    for (const item of r.body.items) {
      if (!done.has(item.image_id) && !known.has(item.image_id)) { queue.push(item); preload(item); }
    }
  })();
  return fetching;
}

function show() {
  const item = queue[0];
  $("empty").hidden = !!item;
  $("current").hidden = !item;
  if (item === displayed) return;
  displayed = item;
  toggled.clear();  // a new image starts with no class switched on
  showToggled();
  shownAt = null;
  delete $("current").dataset.shown;
  if (!item) { $("path").textContent = ""; $("why").innerHTML = ""; showPreselection(null); $("label-group").hidden = true; return; }
  const img = $("current");
  img.src = item.file_url;
  // The look starts when the image can be seen, not when it was asked for.
  // data-shown: when the look started, for tests and assistive tools to wait on.
  const painted = () => { if (displayed === item) { shownAt = performance.now(); img.dataset.shown = "1"; } };
  img.decode().then(painted, painted);
  $("path").textContent = item.path;
  showPreselection(item);
  $("label-group").hidden = !item.near_duplicates;
  $("label-group").textContent = item.near_duplicates ? `· label the group (${item.near_duplicates + 1} near-duplicates)` : "";
  const top = item.top.map((t) => `<li>${escapeHtml(t["class"])}: ${(100 * t.p).toFixed(1)}%</li>`).join("");
  $("why").innerHTML =
    `<p>strategy <b>${escapeHtml(item.strategy || "–")}</b>` +
    (item.score !== null ? `, score ${item.score.toFixed(4)}` : "") +
    (item.model_version ? `, model v${item.model_version}` : "") + "</p>" +
    (top ? `<p>The model thinks:</p><ol>${top}</ol>` :
      (current && current.model ? `<p>No prediction for this image: it was handed out before model v${current.model.version}.</p>`
        : `<p>No predictions yet: the model needs ${MULTI ? "a first label" : "labels of two classes"}.</p>`));
}

// One-key accept: the model's top class, when likely enough (the preselect_threshold setting), is
// marked on its button and Enter gives it; a class key, a click or a typed name gives another.
function showPreselection(item) {
  const chosen = item ? item.preselected : null;
  for (const b of document.querySelectorAll("button.cls")) {
    const on = !!chosen && b.dataset.class === chosen;
    b.classList.toggle("preselected", on);
    b.setAttribute("aria-pressed", on ? "true" : "false");
  }
  // The project's model's top class, or else the user's own model's (labelwise import-predictions).
  const ours = chosen && item.top.length && item.top[0]["class"] === chosen;
  $("preselect").innerHTML = !chosen ? "" : `<kbd>Enter</kbd> accepts <b>${escapeHtml(chosen)}</b>, ` +
    (ours ? `the model's pick (${(100 * item.top[0].p).toFixed(0)}%)` : "your model's prediction");
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function advance() {
  if (queue.length < 4) refill().then(() => { if (queue.length && $("current").hidden) show(); });
  if (!queue.length) await refill();
  show();
}

// One label per image view, and only for an image that was on screen for CONFIG.min_look_ms: a
// double tap, a double click or a held key would otherwise label the next image unseen.
function looked() {
  if (!queue.length || queue[0] !== displayed) return false;
  if (shownAt !== null && performance.now() - shownAt >= CONFIG.min_look_ms) return true;
  say(`too fast: look at the image first (at least ${CONFIG.min_look_ms} ms); nothing saved`, true);
  return false;
}

async function label(cls) {
  if (!looked()) return;
  const item = queue.shift();
  done.add(item.image_id);
  advance();
  const r = await api("POST", "/api/annotations",
    { image_id: item.image_id, label: cls, queued: true, preselected: item.preselected || null });
  if (r.ok) {
    undoStack.push({ annotationId: r.body.id, item });
    labeledHere += 1;
    $("done-count").textContent = String(labeledHere);
    say(`${item.path} → ${Array.isArray(cls) ? (cls.join(", ") || "none of the classes") : cls}`);
  } else {
    say(`Not saved (${item.path}): ${r.body.detail}`, true);
  }
}

async function skip() {
  if (!looked()) return;
  const item = queue.shift();
  done.add(item.image_id);
  advance();
  const r = await api("POST", "/api/skip", { image_id: item.image_id });
  say(r.ok ? `skipped ${item.path}` : r.body.detail, !r.ok);
}

async function undo() {
  const last = undoStack.pop();
  if (!last) { say("nothing to undo"); return; }
  const r = await api("DELETE", `/api/annotations/${last.annotationId}`);
  if (!r.ok) { undoStack.push(last); say(r.body.detail, true); return; }
  done.delete(last.item.image_id);
  queue.unshift(last.item);
  labeledHere = Math.max(0, labeledHere - 1);
  $("done-count").textContent = String(labeledHere);
  say(`undone: ${last.item.path}`);
  show();
}

document.addEventListener("keydown", (event) => {
  lastActivity = Date.now();
  if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.repeat) { event.preventDefault(); return; }  // a held key is one press, not a burst of labels
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (MULTI && KEY_TO_CLASS.has(key)) { event.preventDefault(); toggle(KEY_TO_CLASS.get(key)); }
  else if (MULTI && key === "Enter") { event.preventDefault(); label(CONFIG.classes.filter((c) => toggled.has(c))); }
  else if (KEY_TO_CLASS.has(key)) { event.preventDefault(); label(KEY_TO_CLASS.get(key)); }
  else if (key === "Enter" && queue.length && queue[0].preselected) { event.preventDefault(); label(queue[0].preselected); }
  else if (key === "s") { event.preventDefault(); skip(); }
  else if (key === "z") { event.preventDefault(); undo(); }
  else if (key.length === 1 && key !== " ") say(`"${event.key}" is not a key here: use the keys on the class buttons, s or z`, true);
});

for (const button of document.querySelectorAll("button.cls")) {
  button.addEventListener("click", () => {
    button.blur();  // else Enter or Space would click it again on the next image
    if (MULTI) toggle(button.dataset.class); else label(button.dataset.class);
  });
}

const filter = $("filter");
if (filter) {
  filter.addEventListener("input", () => {
    const text = filter.value.toLowerCase();
    for (const b of document.querySelectorAll("button.cls")) b.hidden = !b.dataset.class.toLowerCase().includes(text);
  });
  filter.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { filter.blur(); return; }
    if (event.key !== "Enter" || event.repeat) return;
    const text = filter.value.trim().toLowerCase();
    if (!text) return;
    // An exact name wins over names that merely contain it ("shirt" is Shirt, not T-shirt-top).
    const exact = CONFIG.classes.filter((c) => c.toLowerCase() === text);
    const partial = CONFIG.classes.filter((c) => c.toLowerCase().includes(text));
    const matches = exact.length ? exact : partial;
    if (matches.length === 0) { say(`no class matches "${filter.value}"`, true); return; }
    if (matches.length > 1) { say(`"${filter.value}" could be ${matches.join(", ")}: type more`, true); return; }
    if (!MULTI && !looked()) return;
    filter.value = "";
    filter.dispatchEvent(new Event("input"));
    filter.blur();  // back to the page: the next digit or z is a key again, not text in the field
    if (MULTI) toggle(matches[0]); else label(matches[0]);
  });
}

// The heartbeat: while the person is active, the leases of the images this page holds are renewed, so
// nobody else is handed them; images somebody else holds by now leave the page with a word.
const LEASE_MS = CONFIG.lease_minutes * 60_000;
for (const type of ["pointermove", "pointerdown", "wheel"]) document.addEventListener(type, () => { lastActivity = Date.now(); }, { passive: true });
async function heartbeat() {
  if (!queue.length || Date.now() - lastActivity > LEASE_MS) return;
  const r = await api("POST", "/api/queue/renew", { image_ids: queue.map((i) => i.image_id) });
  if (!r.ok) return;
  const kept = new Set(r.body.renewed);
  const lost = queue.filter((i) => !kept.has(i.image_id) && !done.has(i.image_id));
  if (!lost.length) return;
  for (const item of lost) { queue.splice(queue.indexOf(item), 1); done.add(item.image_id); }
  say(`${lost.length} image(s) went to someone else while you were away: ${lost.map((i) => i.path).join(", ")}`, true);
  advance();
}
setInterval(heartbeat, Math.max(5_000, Math.min(60_000, LEASE_MS / 3)));

// Label similar: the current image and its nearest unlabeled neighbours, on their own page, pre-ticked
// with the pre-selected class (the annotator changes it there with a class key).
$("label-similar").addEventListener("click", (event) => {
  event.preventDefault();
  const item = queue[0];
  if (!item) { say("no image on screen", true); return; }
  const params = new URLSearchParams({ image: item.image_id, back: "/annotate" });
  if (item.preselected) params.set("label", item.preselected);
  window.location.href = `/similar?${params}`;
});

// Label the group: this image and its near-duplicates (a crop, a shift of one picture) at once.
$("label-group").addEventListener("click", (event) => {
  event.preventDefault();
  const item = queue[0];
  if (!item) return;
  const params = new URLSearchParams({ image: item.image_id, group: "true", back: "/annotate" });
  if (item.preselected) params.set("label", item.preselected);
  window.location.href = `/similar?${params}`;
});

const addClass = $("add-class");
if (addClass) {
  addClass.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = addClass.elements.name.value.trim();
    const r = await api("POST", "/api/classes", { name });
    if (r.ok) window.location.reload(); else say(r.body.detail, true);
  });
}

// The undo stack outlives the page: after a reload or Back, z still takes back the last labels.
async function restoreUndo() {
  const r = await api("GET", "/api/annotations/mine?limit=20");
  if (!r.ok) return;
  for (const a of r.body.items) {
    undoStack.push({ annotationId: a.id, item: { image_id: a.image_id, path: a.path, file_url: a.file_url, top: [], strategy: null, score: null, model_version: null } });
  }
}

// The model's state, refreshed: whether a retrain runs, how old the model is, the strategy in force
// now (images already held keep the one they were served under) and any stopping criterion met.
let current = null;
async function modelState() {
  const r = await api("GET", "/api/status");
  if (!r.ok) return;
  current = r.body;
  const m = r.body.model;
  const parts = [m ? `Model v${m.version}, trained on ${m.n_labels} labels ${Math.max(0, Math.round((Date.now() - Date.parse(m.trained_at)) / 60000))} min ago` : "No model yet"];
  if (r.body.training) parts.push("retraining now…");
  if (r.body.training_error) parts.push(`the last retrain failed: ${r.body.training_error.error}`);
  parts.push(`strategy now: ${r.body.settings.strategy}`);
  for (const c of r.body.stopping || []) if (c.met) parts.push(`stopping criterion met: ${c.reason}`);
  $("model-state").textContent = parts.join(" · ");
}
setInterval(() => { if (!document.hidden) modelState(); }, 5000);
modelState();

restoreUndo();
refill().then(show);
