// A tiny JSON client: the session cookie authenticates; errors come back with the server's message.
async function api(method, url, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { detail: response.statusText }; }
  // The session is gone: say so on the login page, which brings the person back here afterwards.
  if (response.status === 401) { window.location = `/login?next=${encodeURIComponent(window.location.pathname)}`; }
  return { ok: response.ok, status: response.status, body: data };
}
