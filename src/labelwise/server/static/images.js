// The image grid: filters and sorting on the server, click a thumbnail to label or relabel it.
const grid = document.getElementById("grid");
const filters = document.getElementById("filters");
let after = null;  // the server's cursor for the next page (keyset pagination)
let generation = 0;  // bumped by every new filter: answers to older requests are dropped, not mixed in
// /images?group=ID: the near-duplicate group of image ID (from a card's "group" link).
const group = new URLSearchParams(window.location.search).get("group");

function query() {
  const f = filters.elements;
  const params = new URLSearchParams({ sort: f.sort.value, limit: 60 });
  if (after) params.set("after", after);
  const view = f.view.value;
  params.set("status", view === "broken" || view === "duplicate" ? view : "ok");
  if (view === "labeled") params.set("labeled", "true");
  if (view === "unlabeled") params.set("labeled", "false");
  if (f.label.value) params.set("label", f.label.value);
  if (f.predicted.value) params.set("predicted", f.predicted.value);
  if (f.q.value.trim()) params.set("q", f.q.value.trim());
  if (group) params.set("group", group);
  return params;
}

async function load(reset) {
  if (reset) { after = null; generation += 1; }
  const mine = generation;
  const r = await api("GET", "/api/images?" + query());
  if (mine !== generation) return;
  if (reset) grid.innerHTML = "";
  if (!r.ok) { grid.textContent = r.body.detail; return; }
  document.getElementById("total").textContent = `${r.body.total} images`;
  const notice = document.getElementById("notice");  // e.g. a sort the strategy cannot give
  notice.textContent = r.body.notice || "";
  notice.hidden = !r.body.notice;
  const groupNote = document.getElementById("group-note");
  groupNote.hidden = !group;
  if (group) document.getElementById("group-size").textContent = `${r.body.total} image(s)`;
  for (const item of r.body.items) {
    const card = document.createElement("figure");
    card.className = "thumb" + (item.label ? " labeled" : "");
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = item.path;
    if (!item.reason) img.src = `/api/images/${item.image_id}/thumb`;
    const caption = document.createElement("figcaption");
    caption.textContent = item.reason ? `${item.path}: ${item.reason}` :
      (item.label ? `✔ ${item.label}` : (item.predicted ? `${item.predicted}? ${(100 * item.confidence).toFixed(0)}%` : "unlabeled"));
    if (group && !item.reason) caption.textContent = `${item.path}: ${caption.textContent}`;  // which copy is which
    // The user's own model's prediction (imported), beside the project model's guess.
    if (!item.reason && !item.label && item.imported_predicted) caption.textContent += ` · yours: ${item.imported_predicted} ${(100 * item.imported_probability).toFixed(0)}%`;
    if (item.near_duplicates && !group) {
      // Its near-duplicates (a shift, a crop of one picture), shown on their own.
      const link = document.createElement("a");
      link.className = "group-link";
      link.href = `/images?group=${item.image_id}`;
      link.textContent = `group of ${item.near_duplicates + 1}`;
      link.addEventListener("click", (event) => event.stopPropagation());
      caption.append(link);
    }
    card.append(img, caption);
    if (!item.reason) card.addEventListener("click", () => relabel(item, caption, card));
    grid.append(card);
  }
  after = r.body.next;
  document.getElementById("more").hidden = !after;
}

function relabel(item, caption, card) {
  const dialog = document.getElementById("relabel");
  document.getElementById("relabel-path").textContent = item.path;
  document.getElementById("more-like-this").href = `/similar?${new URLSearchParams({ image: item.image_id, back: "/images" })}`;
  document.getElementById("relabel-img").src = `/api/images/${item.image_id}/file`;
  const set = document.getElementById("relabel-set");
  if (set) { relabelSet(dialog, set, item, caption, card); return; }
  const select = document.getElementById("relabel-class");
  const wanted = item.label || item.predicted;
  if (wanted) {
    select.value = wanted;
    // A retired class is not an option: pre-select nothing rather than silently the first class.
    if (select.value !== wanted) select.selectedIndex = -1;
  }
  // Say where the pre-selection comes from: a guess must not pass for a label somebody gave.
  document.getElementById("relabel-guess").textContent = item.label ? `labeled ${item.label}` :
    (item.predicted ? `pre-selected: the model's guess (${(100 * item.confidence).toFixed(0)}%), not a label yet` : "unlabeled");
  dialog.onclose = async () => {
    if (dialog.returnValue !== "save") return;
    if (!select.value) { alert("no class chosen: nothing saved"); return; }
    const r = await api("POST", "/api/annotations", { image_id: item.image_id, label: select.value });
    if (r.ok) { item.label = select.value; caption.textContent = `✔ ${select.value}`; card.classList.add("labeled"); }
    else alert(r.body.detail);
  };
  dialog.showModal();
}

// A multi-label project: the dialog edits the image's set of classes (a list, in class order on the server).
function relabelSet(dialog, set, item, caption, card) {
  const boxes = [...set.querySelectorAll("input[type=checkbox]")];
  const current = item.label && item.label !== "none" ? item.label.split("; ") : [];
  for (const box of boxes) box.checked = current.includes(box.value);
  document.getElementById("relabel-guess").textContent = item.label ? `labeled ${item.label}` : "unlabeled";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "save") return;
    const names = boxes.filter((box) => box.checked).map((box) => box.value);
    const r = await api("POST", "/api/annotations", { image_id: item.image_id, label: names });
    if (r.ok) {
      item.label = names.join("; ") || "none";
      caption.textContent = `✔ ${item.label}`;
      card.classList.add("labeled");
    } else alert(r.body.detail);
  };
  dialog.showModal();
}

filters.addEventListener("change", () => load(true));
filters.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
// The file name search asks the server as the person types, a moment after the last key.
let typing = null;
filters.elements.q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => load(true), 250); });
document.getElementById("more").addEventListener("click", () => load(false));
load(true);
