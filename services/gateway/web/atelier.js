// Atelier's web page: sign in, import, browse sessions. Plain JS, no build step.
const $ = (id) => document.getElementById(id);
const GROUPS = [["today", "Today"], ["this_week", "This week"], ["earlier", "Earlier"]];
let openSession = null;
let sessionList = [];  // the last list shown, newest first: where the merge buttons find neighbours
let live = null;  // the EventSource pushing session changes

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) { showSignIn(); throw new Error("signed out"); }
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

function showSignIn() {
  stopLive();
  $("signin").hidden = false; $("library").hidden = true; $("logout").hidden = true; $("who").textContent = "";
}

async function showLibrary() {
  const me = await api("/api/v1/me");
  $("who").textContent = `signed in as ${me.tenant}`;
  $("signin").hidden = true; $("library").hidden = false; $("logout").hidden = false;
  startLive();
  await Promise.all([refresh(), loadGap(), loadZone()]);
}

// Live updates: the server pushes session changes; redraw what they touch, a little later so a
// burst of events (an import of many files) costs one redraw.
let redrawTimer = null;
function startLive() {
  if (live) return;
  live = new EventSource("/api/v1/events");
  const onChange = (message) => {
    const data = message.data ? JSON.parse(message.data) : {};
    const p = data.payload || {};
    if (openSession && p.from_session_id === openSession) openSession = p.into_session_id;  // merged away
    clearTimeout(redrawTimer);
    redrawTimer = setTimeout(() => redraw().catch(() => {}), 250);
  };
  for (const type of ["session.updated", "session.merged", "resync"]) live.addEventListener(type, onChange);
  // (re)connected: the stream closes now and then and reconnects; redraw what changed in between
  live.addEventListener("open", () => { if (!$("library").hidden) redraw().catch(() => {}); });
}

function stopLive() { if (live) { live.close(); live = null; } }

async function redraw() {
  if ($("library").hidden) return;
  if (openSession) await showSession(openSession); else await refresh();
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

// Images in no session (no usable time) and files that could not be imported, with the reason.
async function refreshShelves() {
  const [untimed, refused] = await Promise.all([
    api("/api/v1/assets?without_time=true&limit=60"), api("/api/v1/assets/quarantine?limit=50"),
  ]);
  $("untimed").hidden = untimed.length === 0;
  $("untimed-assets").replaceChildren(...untimed.map((a) => {
    const fig = document.createElement("figure"); fig.dataset.assetId = a.asset_id;
    const img = document.createElement("img"); img.src = a.thumbnail_url; img.alt = a.filename; img.loading = "lazy";
    const cap = document.createElement("figcaption"); cap.textContent = a.filename;
    fig.append(img, cap);
    return fig;
  }));
  $("quarantine").hidden = refused.length === 0;
  $("quarantine-list").replaceChildren(...refused.map((q) => {
    const li = document.createElement("li"); li.textContent = `${q.filename}: ${q.reason}`;
    return li;
  }));
}

async function refresh() {
  if (openSession) return;
  refreshShelves().catch(() => {});
  const sessions = await api("/api/v1/sessions");
  sessionList = sessions;
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
  // a live redraw may have started this just before the page went back to the list: stay there
  if (openSession !== id) return;
  $("sessions").hidden = true; $("session-detail").hidden = false;
  $("session-title").textContent = `${when(s)} · ${s.asset_count} image${s.asset_count === 1 ? "" : "s"}`;
  if (!sessionList.length) sessionList = await api("/api/v1/sessions");
  showMergeButtons(s);
  $("edit-status").textContent = "";
  const list = $("session-assets"); list.replaceChildren();
  for (const [index, a] of s.assets.entries()) {
    const el = document.createElement("figure"); el.className = "asset";
    const img = document.createElement("img"); img.src = a.thumbnail_url; img.alt = a.filename;
    const cap = document.createElement("figcaption");
    const tool = a.tool ? `${a.tool}${a.model ? " · " + a.model : ""}` : "no generator found";
    cap.innerHTML = "";
    const name = document.createElement("div"); name.textContent = `${a.filename} — ${tool}`;
    const prompt = document.createElement("div"); prompt.className = "prompt"; prompt.textContent = a.prompt || "";
    cap.append(name, prompt);
    el.append(img, cap);
    if (index > 0 && s.precision !== "day") {
      const split = document.createElement("button"); split.className = "split"; split.textContent = "Split here";
      split.title = "Start a new session at this image";
      split.addEventListener("click", () => splitAt(s.id, a.asset_id));
      el.append(split);
    }
    list.append(el);
  }
}

// Merge buttons for the timed sessions just before and after this one (day-precision sessions
// stand apart and cannot be merged by hand).
function showMergeButtons(session) {
  openSession = session.id;
  const timed = sessionList.filter((x) => x.precision !== "day").sort((x, y) => x.start.localeCompare(y.start));
  const at = timed.findIndex((x) => x.id === session.id);
  const previous = at > 0 ? timed[at - 1] : null, next = at >= 0 && at + 1 < timed.length ? timed[at + 1] : null;
  for (const [id, other] of [["merge-previous", previous], ["merge-next", next]]) {
    $(id).hidden = !other || session.precision === "day";
    $(id).onclick = other ? () => mergeWith(session.id, other.id) : null;
  }
}

async function splitAt(sessionId, assetId) {
  try {
    await api(`/api/v1/sessions/${sessionId}/split`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ asset_id: assetId }),
    });
  } catch (error) { $("edit-status").textContent = `Could not split: ${error.message}`; return; }
  await backToList();  // both halves are in the list now
}

async function mergeWith(sessionId, otherId) {
  let result;
  try {
    result = await api("/api/v1/sessions/merge", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_ids: [sessionId, otherId] }),
    });
  } catch (error) { $("edit-status").textContent = `Could not merge: ${error.message}`; return; }
  sessionList = await api("/api/v1/sessions");
  await showSession(result.sessions[0].id);
}

async function backToList() {
  openSession = null; $("session-detail").hidden = true; $("sessions").hidden = false; await refresh();
}

// The session gap: minutes, or empty for the automatic rule.
async function loadGap() {
  const settings = await api("/api/v1/settings/sessions");
  $("gap-minutes").value = settings.gap_minutes ?? "";
}

async function saveGap(minutes) {
  $("gap-status").textContent = "re-grouping…";
  try {
    const result = await api("/api/v1/settings/sessions", {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ gap_minutes: minutes }),
    });
    $("gap-minutes").value = result.gap_minutes ?? "";
    $("gap-status").textContent = result.gap_minutes ? `new session after ${result.gap_minutes} min` : "automatic";
  } catch (error) { $("gap-status").textContent = `not saved: ${error.message}`; return; }
  await refresh();
}

$("gap-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("gap-minutes").value.trim();
  saveGap(value === "" ? null : Number(value));
});
$("gap-automatic").addEventListener("click", () => saveGap(null));

// The library's time zone: sessions are grouped into today / this week in it.
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
async function loadZone() {
  const setting = await api("/api/v1/settings/time-zone");
  $("time-zone").value = setting.time_zone;
  $("zone-browser").textContent = `Use ${browserZone}`;
  $("zone-browser").hidden = setting.time_zone === browserZone;
}

async function saveZone(zone) {
  try {
    await api("/api/v1/settings/time-zone", {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ time_zone: zone }),
    });
  } catch (error) { $("zone-status").textContent = "not a time zone (try Europe/Paris)"; return; }
  $("zone-status").textContent = "";
  await Promise.all([loadZone(), refresh()]);
}

$("zone-form").addEventListener("submit", (event) => { event.preventDefault(); saveZone($("time-zone").value.trim()); });
$("zone-browser").addEventListener("click", () => saveZone(browserZone));

$("back").addEventListener("click", backToList);

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

$("logout").addEventListener("click", async () => {
  stopLive(); await fetch("/api/v1/logout", { method: "POST" }); showSignIn();
});

// what each upload status means to the person who dropped the file
const UPLOAD_STATUS = {
  imported: "imported",
  queued: "queued (received, still being imported)",
  duplicate: "duplicate (already in your library)",
  rejected: "rejected",
};

async function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) { form.append("files", f, f.name); form.append("last_modified", String(f.lastModified)); }
  const list = $("upload-results");
  let results;
  try {
    results = await api("/api/v1/assets", { method: "POST", body: form });
  } catch (error) {
    // 413 (too large), 503 (storage or broker down: nothing was imported, retry later), network errors
    const li = document.createElement("li"); li.dataset.status = "error";
    let reason = error.message;
    try { reason = JSON.parse(reason.slice(reason.indexOf(" ") + 1)).detail || reason; } catch (_) { /* not JSON */ }
    li.textContent = `upload failed: ${reason}`;
    list.prepend(li);
    return;
  }
  for (const r of results) {
    const li = document.createElement("li"); li.dataset.status = r.status;
    li.textContent = `${r.filename}: ${UPLOAD_STATUS[r.status] || r.status}${r.reason ? " — " + r.reason : ""}`;
    list.prepend(li);
  }
  await refresh();
}

$("files").addEventListener("change", (e) => upload([...e.target.files]));
$("drop").addEventListener("dragover", (e) => e.preventDefault());
$("drop").addEventListener("drop", (e) => { e.preventDefault(); upload([...e.dataTransfer.files]); });

// a slow poll as well, in case the event stream is down (its reconnects are automatic)
setInterval(() => { if (!$("library").hidden) refresh().catch(() => {}); }, 15000);
api("/api/v1/me").then(showLibrary).catch(showSignIn);
