// Every call to the server goes through here: the bearer token (asked for once when the server
// answers 401, kept in sessionStorage) and Prometheus' {status, data, error} envelope.

const TOKEN_KEY = "foresight.token";
let asking = null; // one dialog for every request that got a 401 at the same time

function authHeaders() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { Authorization: `Bearer ${t}` } : {};
}

function askToken() {
  if (!asking) {
    asking = new Promise((resolve) => {
      const dialog = document.getElementById("token-dialog");
      const input = document.getElementById("token-input");
      input.value = "";
      dialog.addEventListener(
        "close",
        () => {
          const t = input.value.trim();
          if (t) sessionStorage.setItem(TOKEN_KEY, t);
          asking = null;
          resolve(Boolean(t));
        },
        { once: true },
      );
      dialog.showModal();
    });
  }
  return asking;
}

/** fetch() with the token; on a 401, asks for a token once and retries. */
export async function authFetch(url, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url, { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
    if (r.status !== 401 || attempt > 0) return r;
    sessionStorage.removeItem(TOKEN_KEY);
    if (!(await askToken())) return r;
  }
}

/** An API error with Prometheus' errorType. */
export class ApiError extends Error {
  constructor(message, type, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

/** GET (or form POST when `post`) an /api/v1 endpoint; resolves to `data` (and warnings). */
export async function api(path, params = {}, { post = false, signal } = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => body.append(k, x));
    else if (v !== undefined && v !== null && v !== "") body.append(k, String(v));
  }
  const qs = body.toString();
  const r = post
    ? await authFetch(path, {
        method: "POST",
        body,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        signal,
      })
    : await authFetch(qs ? `${path}?${qs}` : path, { signal });
  let j;
  try {
    j = await r.json();
  } catch {
    throw new ApiError(`${path}: HTTP ${r.status} (not JSON)`, "http", r.status);
  }
  if (j.status !== "success") throw new ApiError(j.error || `HTTP ${r.status}`, j.errorType, r.status);
  return { data: j.data, warnings: j.warnings || [] };
}

/** Server-Sent Events over fetch (EventSource cannot send the Authorization header). */
export async function sse(url, onEvent, signal) {
  const r = await authFetch(url, { signal, headers: { Accept: "text/event-stream" } });
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try {
      msg = (await r.json()).error || msg;
    } catch {
      /* not JSON */
    }
    throw new ApiError(msg, "http", r.status);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(event, data.join("\n"));
    }
  }
}

/** Plain text (for /metrics). */
export async function text(path) {
  const r = await authFetch(path);
  if (!r.ok) throw new ApiError(`${path}: HTTP ${r.status}`, "http", r.status);
  return r.text();
}
