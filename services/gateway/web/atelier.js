// Atelier's web page: sign in, import, browse sessions. Plain JS, no build step.
const $ = (id) => document.getElementById(id);
const GROUPS = [["today", "Today"], ["this_week", "This week"], ["earlier", "Earlier"]];
let openSession = null;

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { showSignIn(); throw new Error("signed out"); }
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

function showSignIn() {
  $("signin").hidden = false; $("library").hidden = true; $("logout").hidden = true; $("who").textContent = "";
}

async function showLibrary() {
  const me = await api("/api/v1/me");
  $("who").textContent = `signed in as ${me.tenant}`;
  $("signin").hidden = true; $("library").hidden = false; $("logout").hidden = false;
  await refresh();
}

function when(session) {
  const start = new Date(session.start), end = new Date(session.end);
  if (session.precision === "day") return start.toLocaleDateString();
  const sameDay = start.toDateString() === end.toDateString();
  const t = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `${start.toLocaleDateString()} ${t(start)} – ${sameDay ? t(end) : end.toLocaleString()}`;
}

function card(session) {
  const el = document.createElement("article");
  el.className = "card"; el.dataset.sessionId = session.id;
  const cover = document.createElement("div"); cover.className = "cover";
  for (const c of session.cover) {
    const img = document.createElement("img"); img.src = c.thumbnail_url; img.alt = ""; img.loading = "lazy";
    cover.append(img);
  }
  const whenEl = document.createElement("div"); whenEl.className = "when"; whenEl.textContent = when(session);
  const count = document.createElement("div"); count.className = "count";
  count.textContent = `${session.asset_count} image${session.asset_count === 1 ? "" : "s"}`;
  el.append(cover, whenEl, count);
  el.addEventListener("click", () => showSession(session.id));
  return el;
}

async function refresh() {
  if (openSession) return;
  const sessions = await api("/api/v1/sessions");
  $("no-sessions").hidden = sessions.length > 0;
  const groups = $("groups"); groups.replaceChildren();
  for (const [key, title] of GROUPS) {
    const members = sessions.filter((s) => s.group === key);
    if (!members.length) continue;
    const h = document.createElement("h3"); h.textContent = title;
    const cards = document.createElement("div"); cards.className = "cards"; cards.dataset.group = key;
    cards.append(...members.map(card));
    groups.append(h, cards);
  }
}

async function showSession(id) {
  openSession = id;
  const s = await api(`/api/v1/sessions/${id}`);
  $("sessions").hidden = true; $("session-detail").hidden = false;
  $("session-title").textContent = `${when(s)} · ${s.asset_count} image${s.asset_count === 1 ? "" : "s"}`;
  const list = $("session-assets"); list.replaceChildren();
  for (const a of s.assets) {
    const el = document.createElement("figure"); el.className = "asset";
    const img = document.createElement("img"); img.src = a.thumbnail_url; img.alt = a.filename;
    const cap = document.createElement("figcaption");
    const tool = a.tool ? `${a.tool}${a.model ? " · " + a.model : ""}` : "no generator found";
    cap.innerHTML = "";
    const name = document.createElement("div"); name.textContent = `${a.filename} — ${tool}`;
    const prompt = document.createElement("div"); prompt.className = "prompt"; prompt.textContent = a.prompt || "";
    cap.append(name, prompt);
    el.append(img, cap);
    list.append(el);
  }
}

$("back").addEventListener("click", async () => {
  openSession = null; $("session-detail").hidden = true; $("sessions").hidden = false; await refresh();
});

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  const response = await fetch("/api/v1/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  if (!response.ok) { $("signin-error").textContent = "That token was not accepted."; return; }
  $("token").value = "";
  await showLibrary();
});

$("logout").addEventListener("click", async () => { await fetch("/api/v1/logout", { method: "POST" }); showSignIn(); });

async function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) { form.append("files", f, f.name); form.append("last_modified", String(f.lastModified)); }
  const results = await api("/api/v1/assets", { method: "POST", body: form });
  const list = $("upload-results");
  for (const r of results) {
    const li = document.createElement("li"); li.dataset.status = r.status;
    li.textContent = `${r.filename}: ${r.status}${r.reason ? " — " + r.reason : ""}${r.state ? " (" + r.state + ")" : ""}`;
    list.prepend(li);
  }
  await refresh();
}

$("files").addEventListener("change", (e) => upload([...e.target.files]));
$("drop").addEventListener("dragover", (e) => e.preventDefault());
$("drop").addEventListener("drop", (e) => { e.preventDefault(); upload([...e.dataTransfer.files]); });

setInterval(() => { if (!$("library").hidden) refresh().catch(() => {}); }, 3000);
api("/api/v1/me").then(showLibrary).catch(showSignIn);
