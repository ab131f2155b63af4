// The dashboard: admins change settings and ask for a retrain; the page refreshes its numbers.
const form = document.getElementById("settings");
let edited = false;  // an admin's unsaved settings: never reloaded away
if (form) form.addEventListener("input", () => { edited = true; });
if (form && !form.classList.contains("readonly")) {
  // N is asked for only when a sample is ranked: "the whole pool" shows no number beside it.
  const mode = form.elements.candidates_mode;
  mode.addEventListener("change", () => {
    form.elements.candidates.hidden = mode.value === "all";
    if (mode.value === "n" && !form.elements.candidates.value) form.elements.candidates.value = "1000";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const numberOrNull = (v) => (v === "" ? null : Number(v));
    const body = {
      strategy: f.strategy.value,
      head: f.head.value,
      candidates: f.candidates_mode.value === "all" ? null : Number(f.candidates.value),
      explore: Number(f.explore.value),
      retrain_every: Number(f.retrain_every.value),
      lease_minutes: Number(f.lease_minutes.value),
      stop_label_budget: numberOrNull(f.stop_label_budget.value),
      stop_target_accuracy: numberOrNull(f.stop_target_accuracy.value),
      preselect_threshold: numberOrNull(f.preselect_threshold.value),
      overlap: Number(f.overlap.value),
      labels_per_overlap_image: Number(f.labels_per_overlap_image.value),
    };
    const r = await api("PUT", "/api/settings", body);
    document.getElementById("settings-msg").textContent = r.ok ? "saved" : r.body.detail;
    if (r.ok) setTimeout(() => window.location.reload(), 400);
  });
}
// Class maintenance (admins): rename, merge, retire or restore one class; the page reloads to show it.
const classForm = document.getElementById("class-admin");
if (classForm) {
  classForm.addEventListener("input", () => { edited = true; });
  classForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = classForm.elements;
    const name = f.name.value;
    const to = f.to.value.trim();
    const path = `/api/classes/${encodeURIComponent(name)}`;
    const action = f.action.value;
    const msg = document.getElementById("class-msg");
    if ((action === "rename" || action === "merge") && !to) { msg.textContent = `${action}: type the ${action === "rename" ? "new name" : "class to merge into"}`; msg.className = "error"; return; }
    const r = action === "rename" ? await api("PUT", path, { name: to })
      : action === "merge" ? await api("POST", `${path}/merge`, { into: to })
      : action === "retire" ? await api("POST", `${path}/retire`)
      : await api("POST", "/api/classes", { name });
    msg.textContent = r.ok ? "saved" : r.body.detail;
    msg.className = r.ok ? "" : "error";
    if (r.ok) setTimeout(() => window.location.reload(), 400);
  });
}
const train = document.getElementById("train-now");
if (train) {
  train.addEventListener("click", async () => {
    train.disabled = true;
    train.textContent = "retraining…";
    await api("POST", "/api/train");
    setTimeout(() => window.location.reload(), 1500);
  });
}
// Keep the numbers fresh while people label.
setInterval(async () => {
  if (document.hidden || edited || document.activeElement?.form === form) return;
  const r = await api("GET", "/api/status");
  if (!r.ok) return;
  const shownVersion = document.getElementById("model-version").textContent;
  const version = r.body.model ? `version ${r.body.model.version}` : "no model yet";
  if (version !== shownVersion || String(r.body.labeled) !== document.getElementById("labeled-count").textContent) {
    window.location.reload();
  }
}, 5000);
