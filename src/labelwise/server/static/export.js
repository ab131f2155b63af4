// The export page: the ImageFolder button (moved out of the page: the CSP allows no inline script).
document.getElementById("imagefolder").onclick = async () => {
  const r = await api("POST", "/api/export/imagefolder");
  document.getElementById("export-msg").textContent = r.ok ? `Wrote ${r.body.images} images (${r.body.hard_links} hard links) to ${r.body.folder}` : r.body.detail;
};
