// The review page: list the labels most likely wrong; confirm or change each; show the history.
const rows = document.querySelector("#suspects tbody");
const summary = document.getElementById("review-summary");
const options = document.getElementById("class-options");

function cell(tr, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = content;
  tr.append(td);
  return td;
}

async function decide(item, tr, label) {
  const r = await api("POST", `/api/review/${item.image_id}`, label ? { label, given_p: item.given_p } : { given_p: item.given_p });
  if (!r.ok) { alert(r.body.detail); return; }
  tr.classList.add("reviewed");
  tr.lastChild.textContent = r.body.action === "change" ? `changed to ${r.body.to}` : "confirmed";
  loadHistory();
}

// The image's thumbnail, named by its path.
function thumb(item) {
  const img = document.createElement("img");
  img.src = `/api/images/${item.image_id}/thumb`;
  img.alt = item.path;
  img.title = item.path;
  img.className = "review-thumb";
  return img;
}

// A class list starting at `initial` and a button that decides with the class chosen.
function classPicker(initial, text, onPick) {
  const select = document.createElement("select");
  select.innerHTML = options.innerHTML;
  select.value = initial;
  const button = document.createElement("button");
  button.textContent = text;
  button.className = "change";
  button.onclick = () => onPick(select.value);
  return [select, " ", button];
}

function row(item) {
  const tr = document.createElement("tr");
  tr.dataset.imageId = item.image_id;
  cell(tr, String(item.rank));
  cell(tr, thumb(item));
  cell(tr, `${item.label} (${item.annotator})`);
  cell(tr, item.given_p.toFixed(3)).className = "num";
  cell(tr, `${item.suggested} ${(100 * item.suggested_p).toFixed(0)}%` + (item.flagged ? " ⚑" : ""));
  const actions = document.createElement("div");
  const ok = document.createElement("button");
  ok.textContent = `Keep ${item.label}`;
  ok.className = "confirm";
  ok.onclick = () => decide(item, tr, null);
  actions.append(ok, " ", ...classPicker(item.suggested, "Change", (label) => decide(item, tr, label)));
  cell(tr, actions);
  return tr;
}

async function loadSuspects() {
  const r = await api("GET", "/api/review/suspects?n=50");
  if (!r.ok) { summary.textContent = r.body.detail; return; }
  const b = r.body;
  summary.textContent = `${b.n_flagged} of ${b.n_checked} labels flagged as likely wrong; ${b.n_reviewed} already reviewed` +
    ` (checked in ${b.seconds.toFixed(1)} s).` + (b.notes.length ? " " + b.notes.join(" ") : "");
  rows.innerHTML = "";
  for (const item of b.items) rows.append(row(item));
}

async function loadHistory() {
  const r = await api("GET", "/api/review/history?limit=20");
  const body = document.querySelector("#review-history tbody");
  body.innerHTML = "";
  if (!r.ok) return;
  for (const h of r.body.reviews) {
    const tr = document.createElement("tr");
    cell(tr, h.at.slice(0, 19).replace("T", " "));
    cell(tr, h.by);
    cell(tr, h.action === "change" ? `${h.path}: ${h.from} → ${h.to}` : `${h.path}: kept ${h.from}`);
    cell(tr, `labeled by ${h.labeled_by}`);
    body.append(tr);
  }
}

// Disputed images (overlap votes tied): one button per tied class; "Keep" confirms the current label.
async function decideDispute(item, tr, label) {
  const body = label === item.label ? { reason: "disputed" } : { label, reason: "disputed" };
  const r = await api("POST", `/api/review/${item.image_id}`, body);
  if (!r.ok) { alert(r.body.detail); return; }
  tr.classList.add("reviewed");
  tr.lastChild.textContent = r.body.action === "change" ? `changed to ${r.body.to}` : `kept ${r.body.to}`;
  loadHistory();
}

async function loadDisputed() {
  const r = await api("GET", "/api/review/disputed");
  const note = document.getElementById("disputed-summary");
  const body = document.querySelector("#disputed tbody");
  if (!r.ok) { note.textContent = r.body.detail; return; }
  note.textContent = r.body.items.length ? `${r.body.items.length} disputed images.` : "No disputed image.";
  body.innerHTML = "";
  for (const item of r.body.items) {
    const tr = document.createElement("tr");
    tr.dataset.imageId = item.image_id;
    cell(tr, thumb(item));
    cell(tr, item.votes.map((v) => `${v.by}: ${v.label}`).join(", "));
    const actions = document.createElement("div");
    for (const label of item.tied) {
      const b = document.createElement("button");
      b.textContent = label === item.label ? `Keep ${label}` : `Make it ${label}`;
      b.className = label === item.label ? "confirm" : "change";
      b.onclick = () => decideDispute(item, tr, label);
      actions.append(b, " ");
    }
    actions.append(...classPicker(item.label, "Set", (label) => decideDispute(item, tr, label)));
    cell(tr, actions);
    body.append(tr);
  }
}

loadDisputed();
loadSuspects();
loadHistory();
