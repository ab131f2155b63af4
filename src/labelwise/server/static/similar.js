// Label similar: the nearest unlabeled images of one image, all ticked with one class; untick the
// wrong ones, Enter labels the rest (and the image itself while it is unlabeled). Labels are source=batch.
const $ = (id) => document.getElementById(id);
const CONFIG = JSON.parse($("similar-config").textContent);
const KEY_TO_CLASS = new Map(CONFIG.keys.map((k, i) => [k, CONFIG.classes[i]]).filter(([k]) => k));
const ticked = new Set();
let source = null;
let busy = false;

function say(text, isError) {
  $("msg").textContent = text;
  $("msg").className = isError ? "error" : "";
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function load() {
  const r = await api("GET", CONFIG.group ? `/api/images/${CONFIG.image_id}/group` : `/api/images/${CONFIG.image_id}/similar?n=${CONFIG.n}`);
  if (!r.ok) { say(r.body.detail, true); return; }
  source = r.body;
  $("source").src = `/api/images/${source.image_id}/file`;
  $("source-path").textContent = source.path + (source.label ? ` — labeled ${source.label}` : " — unlabeled");
  const wanted = CONFIG.label || source.label;
  // No class known (an unlabeled image, nothing pre-selected): none is chosen for the person.
  if (wanted) $("batch-class").value = wanted; else if (!$("batch-class").value || !CONFIG.label) $("batch-class").selectedIndex = -1;
  const grid = $("batch");
  grid.innerHTML = "";
  ticked.clear();
  for (const item of source.items) {
    const card = document.createElement("figure");
    card.className = "thumb ticked";
    card.dataset.imageId = String(item.image_id);
    card.innerHTML = `<img alt="${escapeHtml(item.path)}" src="${item.thumb_url}"><figcaption>✔ ${(100 * item.similarity).toFixed(0)}% similar</figcaption>`;
    ticked.add(item.image_id);
    card.addEventListener("click", () => {
      const on = !ticked.has(item.image_id);
      if (on) ticked.add(item.image_id); else ticked.delete(item.image_id);
      card.classList.toggle("ticked", on);
      card.querySelector("figcaption").textContent = `${on ? "✔" : "✘"} ${(100 * item.similarity).toFixed(0)}% similar`;
      say(`${ticked.size} of ${source.items.length} ticked`);
    });
    grid.append(card);
  }
  const what = CONFIG.group ? "near-duplicates" : "similar unlabeled images";
  say(source.items.length ? `${ticked.size} ${what}, all ticked` : `no unlabeled ${CONFIG.group ? "near-duplicate" : "image"} left`);
}

async function labelTicked() {
  if (busy || !source) return;
  const cls = $("batch-class").value;
  if (!cls) { say("choose the class first (a class key or the list)", true); return; }
  const ids = [...(source.label ? [] : [source.image_id]), ...ticked];
  if (!ids.length) { say("nothing ticked", true); return; }
  busy = true;
  const r = await api("POST", "/api/annotations/batch", { image_ids: ids, label: cls });
  busy = false;
  if (!r.ok) { say(r.body.detail, true); return; }
  const refused = r.body.refused.map((x) => x.reason).join("; ");
  await load();
  say(`${r.body.labeled.length} labeled ${cls}` + (refused ? `; not labeled: ${refused}` : ""), !!refused);
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "SELECT" || event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.repeat) { event.preventDefault(); return; }
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (key === "Enter") { event.preventDefault(); labelTicked(); }
  else if (KEY_TO_CLASS.has(key)) { event.preventDefault(); $("batch-class").value = KEY_TO_CLASS.get(key); say(`class: ${KEY_TO_CLASS.get(key)}`); }
});

load();
