// The classes come as JSON data, not as inline script (the CSP allows none).
window.CLASSES = JSON.parse(document.getElementById("classes-data").textContent);
// The annotate page: one image at a time, number keys, prefetching so that labeling never waits.
const queue = [];           // leased items not yet labeled here, the first one on screen
const done = new Set();     // image ids labeled or skipped in this page
const undoStack = [];       // {annotationId, item}
let fetching = null;
const $ = (id) => document.getElementById(id);

function say(text, isError) {
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
  if (!item) { $("path").textContent = ""; $("why").innerHTML = ""; return; }
  $("current").src = item.file_url;
  $("path").textContent = item.path;
  const top = item.top.map((t) => `<li>${escapeHtml(t["class"])}: ${(100 * t.p).toFixed(1)}%</li>`).join("");
  $("why").innerHTML =
    `<p>strategy <b>${escapeHtml(item.strategy || "–")}</b>` +
    (item.score !== null ? `, score ${item.score.toFixed(4)}` : "") +
    (item.model_version ? `, model v${item.model_version}` : "") + "</p>" +
    (top ? `<p>The model thinks:</p><ol>${top}</ol>` : "<p>No predictions yet: the model needs labels of two classes.</p>");
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function advance() {
  if (queue.length < 4) refill().then(() => { if (queue.length && $("current").hidden) show(); });
  if (!queue.length) await refill();
  show();
}

async function label(cls) {
  const item = queue.shift();
  if (!item) return;
  done.add(item.image_id);
  advance();
  const r = await api("POST", "/api/annotations", { image_id: item.image_id, label: cls });
  if (r.ok) {
    undoStack.push({ annotationId: r.body.id, item });
    $("done-count").textContent = String(undoStack.length);
    say(`${item.path} → ${cls}`);
  } else {
    say(`Not saved: ${r.body.detail}`, true);
  }
}

async function skip() {
  const item = queue.shift();
  if (!item) return;
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
  $("done-count").textContent = String(undoStack.length);
  say(`undone: ${last.item.path}`);
  show();
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT") return;
  if (event.key >= "1" && event.key <= "9") {
    const cls = window.CLASSES[Number(event.key) - 1];
    if (cls !== undefined) { event.preventDefault(); label(cls); }
  } else if (event.key === "s") { event.preventDefault(); skip(); }
  else if (event.key === "z") { event.preventDefault(); undo(); }
});

for (const button of document.querySelectorAll("button.cls")) {
  button.addEventListener("click", () => label(button.dataset.class));
}

const filter = $("filter");
if (filter) {
  filter.addEventListener("input", () => {
    const text = filter.value.toLowerCase();
    for (const b of document.querySelectorAll("button.cls")) b.hidden = !b.dataset.class.toLowerCase().includes(text);
  });
  filter.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const match = window.CLASSES.find((c) => c.toLowerCase().includes(filter.value.toLowerCase()));
    if (match) { label(match); filter.value = ""; filter.dispatchEvent(new Event("input")); }
  });
}

const addClass = $("add-class");
if (addClass) {
  addClass.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = addClass.elements.name.value.trim();
    const r = await api("POST", "/api/classes", { name });
    if (r.ok) window.location.reload(); else say(r.body.detail, true);
  });
}

refill().then(show);
