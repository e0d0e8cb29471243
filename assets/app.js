// hookbin's only script: copy buttons, confirmations, the bin inspector (live rows, selection,
// keys), live delivery logs and relative times. Every page works without it.
// Captured content is inserted with textContent; the only HTML inserted is what hookbin's own
// server rendered (and escaped) for the detail pane.
"use strict";

function flash(btn, text) {
  const old = btn.textContent;
  btn.textContent = text;
  setTimeout(() => { btn.textContent = old; }, 1200);
}

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button[data-copy], button[data-copy-from]");
  if (!btn) return;
  let text = btn.getAttribute("data-copy");
  if (text === null) {
    const from = document.querySelector(btn.getAttribute("data-copy-from"));
    if (!from) return;
    text = from.textContent;
  }
  const done = () => flash(btn, "Copied");
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
});

function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

document.addEventListener("submit", (ev) => {
  const msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

function humanSize(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + " " + units[i];
}

function methodClass(m) {
  return ["GET", "POST", "PUT", "PATCH", "DELETE"].includes(m) ? "m-" + m.toLowerCase() : "m-other";
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

// ---- The bin inspector -------------------------------------------------------------------

function inspector(list) {
  const bin = list.dataset.bin;
  const query = list.dataset.query || "";
  const pane = document.getElementById("detail");
  const follow = document.getElementById("follow");
  const status = document.getElementById("live-status");
  let loading = null;

  const rows = () => Array.from(list.querySelectorAll("li.req"));
  const selectedRow = () => list.querySelector("li.selected");

  function mark(li) {
    for (const r of rows()) {
      r.classList.remove("selected");
      r.querySelector("a.pick").removeAttribute("aria-current");
    }
    li.classList.add("selected");
    li.classList.remove("unread");
    li.querySelector("a.pick").setAttribute("aria-current", "true");
  }

  // Shows request `li` in the detail pane, fetched as hookbin renders it.
  async function select(li, focusPane) {
    const id = li.dataset.id;
    mark(li);
    const url = new URL(window.location.href);
    url.searchParams.set("r", id);
    history.replaceState(null, "", url);
    if (loading) loading.abort();
    loading = new AbortController();
    try {
      const res = await fetch("/requests/" + encodeURIComponent(id) + "/pane", { signal: loading.signal });
      if (!res.ok) throw new Error("HTTP " + res.status);
      pane.innerHTML = await res.text();
      refreshTimes(pane);
      const sig = pane.querySelector(".detail")?.dataset.sig;
      const badge = li.querySelector(".sig");
      if (badge && sig) {
        badge.className = "sig sig-" + sig;
        badge.textContent = sig === "valid" ? "✓ signed" : "✗ signed";
        badge.title = sig === "valid" ? "Signature valid" : "Signature not valid";
      }
      pane.dataset.shown = id;
      if (focusPane) pane.focus({ preventScroll: true });
    } catch (e) {
      if (e.name !== "AbortError") window.location.href = url.toString();
    }
  }

  list.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.pick");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    if (follow && a.closest("li") !== list.querySelector("li.req")) follow.checked = false;
    select(a.closest("li"), false);
  });

  function step(by) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(selectedRow());
    const next = all[Math.min(all.length - 1, Math.max(0, at + by))];
    if (!next || next === selectedRow()) return;
    if (follow && next !== all[0]) follow.checked = false;
    select(next, false);
    next.querySelector("a.pick").focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest" });
  }

  function compare() {
    const ticked = list.querySelectorAll("input[name=ids]:checked");
    if (ticked.length !== 2) {
      announce("Tick two requests (x) to compare them; " + ticked.length + " ticked.");
      return;
    }
    document.getElementById("compare").click();
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.closest("input, textarea, select, [contenteditable]")) return;
    const inList = list.contains(document.activeElement);
    if (ev.key === "j" || (inList && ev.key === "ArrowDown")) { ev.preventDefault(); step(1); }
    else if (ev.key === "k" || (inList && ev.key === "ArrowUp")) { ev.preventDefault(); step(-1); }
    else if (ev.key === "x") {
      const box = selectedRow()?.querySelector("input[name=ids]");
      if (box) box.checked = !box.checked;
    } else if (ev.key === "c") compare();
  });

  document.querySelector(".keys")?.removeAttribute("hidden");
  if (follow) follow.closest("label").hidden = false;
  if (follow) {
    follow.addEventListener("change", () => {
      const first = list.querySelector("li.req");
      if (follow.checked && first) select(first, false);
    });
  }

  const source = list.dataset.live;
  if (!source) return;
  const setState = (s, text) => { status.dataset.state = s; status.textContent = text; };
  setState("connecting", "Connecting…");
  const events = new EventSource(source);
  // "open" once the server follows the bin for this page (it subscribes before answering).
  events.addEventListener("open", () => { list.dataset.stream = "open"; setState("open", "Live"); });
  events.addEventListener("error", () => { list.dataset.stream = "reconnecting"; setState("reconnecting", "Reconnecting…"); });
  events.addEventListener("lagged", () => window.location.reload());
  events.addEventListener("request", (ev) => {
    const r = JSON.parse(ev.data);
    const li = requestRow(r, bin, query);
    li.classList.add("unread", "fresh");
    list.insertBefore(li, list.firstChild);
    refreshTimes(li);
    document.getElementById("inspector").hidden = false;
    const empty = document.getElementById("empty-state");
    if (empty) empty.hidden = true;
    const count = document.getElementById("request-count");
    if (count) {
      const n = Number(count.textContent) + 1;
      count.textContent = String(n);
      const noun = document.getElementById("request-noun");
      if (noun) noun.textContent = n === 1 ? "request" : "requests";
    }
    announce("New request: " + r.method + " " + r.path);
    if (!selectedRow() || (follow && follow.checked)) select(li, false);
  });
}

// A list row for a request that arrived live, built like the server's.
function requestRow(r, bin, query) {
  const target = r.query ? r.path + "?" + r.query : r.path;
  const li = el("li", "req");
  li.dataset.id = r.id;
  const pick = el("input");
  pick.type = "checkbox";
  pick.name = "ids";
  pick.value = r.id;
  pick.setAttribute("form", "export");
  pick.setAttribute("aria-label", "Select " + r.method + " " + target);
  li.appendChild(pick);
  const a = el("a", "pick");
  a.href = "/bins/" + encodeURIComponent(bin) + "?r=" + encodeURIComponent(r.id) + query;
  const line1 = el("span", "line1");
  line1.appendChild(el("span", "method " + methodClass(r.method), r.method));
  line1.append(" ");
  const t = el("span", "target", target);
  t.title = target;
  line1.appendChild(t);
  if (r.signed) {
    line1.append(" ");
    const s = el("span", "sig sig-unchecked", "signed");
    s.title = "Signed";
    line1.appendChild(s);
  }
  a.appendChild(line1);
  const line2 = el("span", "line2 meta");
  const time = el("time", "", r.received_at);
  time.dateTime = r.received_at;
  time.title = r.received_at;
  line2.append(time, " · " + humanSize(r.body_size) + " · ");
  line2.appendChild(el("span", "status", String(r.response_status)));
  const mime = (r.content_type || "").split(";")[0].trim();
  if (mime) { line2.append(" · "); line2.appendChild(el("span", "ctype", mime)); }
  a.appendChild(line2);
  li.appendChild(a);
  return li;
}

const requestList = document.querySelector("ol#requests");
if (requestList) inspector(requestList);

// ---- Sending side ------------------------------------------------------------------------

// The webhook form shows the payload of the event being chosen.
const eventSelect = document.getElementById("event");
if (eventSelect) {
  eventSelect.addEventListener("change", () => {
    for (const p of document.querySelectorAll(".preview[data-event]")) {
      p.hidden = p.getAttribute("data-event") !== eventSelect.value;
    }
  });
}

// Parts of a page marked data-poll hold something pending (a delivery being sent): they are
// fetched again every 2 s and replaced until nothing in them is pending any more.
async function poll() {
  const parts = document.querySelectorAll("[data-poll]");
  if (!parts.length) return;
  try {
    const res = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (res.ok) {
      const fresh = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const old of parts) {
        const now = fresh.getElementById(old.id);
        if (now) { old.replaceWith(document.importNode(now, true)); }
      }
      refreshTimes();
    }
  } catch (_) { /* try again next round */ }
  setTimeout(poll, 2000);
}
setTimeout(poll, 2000);

// The events page narrows its list as you type.
const eventSearch = document.getElementById("event-q");
if (eventSearch) {
  const filter = () => {
    const q = eventSearch.value.trim().toLowerCase();
    let shown = 0;
    for (const card of document.querySelectorAll(".event[data-text]")) {
      const hit = !q || card.dataset.text.includes(q);
      card.hidden = !hit;
      if (hit) shown++;
    }
    const count = document.getElementById("event-count");
    if (count) count.textContent = shown + (shown === 1 ? " event" : " events");
  };
  eventSearch.addEventListener("input", filter);
  filter();
}

// ---- Times -------------------------------------------------------------------------------

// Times read as "3 min ago"; the exact time stays in the tooltip (and in the page without JS).
function relative(iso) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return null;
  const s = Math.round((Date.now() - then) / 1000);
  const future = s < 0;
  const a = Math.abs(s);
  let text;
  if (a < 10) return future ? "in a moment" : "just now";
  if (a < 60) text = a + " s";
  else if (a < 3600) text = Math.floor(a / 60) + " min";
  else if (a < 86400) text = Math.floor(a / 3600) + " h";
  else text = Math.floor(a / 86400) + " d";
  return future ? "in " + text : text + " ago";
}

function exact(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) + " (" + iso + ")";
}

function refreshTimes(root) {
  for (const t of (root || document).querySelectorAll("time[datetime]")) {
    const rel = relative(t.dateTime);
    if (rel) {
      t.textContent = rel;
      t.title = exact(t.dateTime);
    }
  }
}

refreshTimes();
setInterval(refreshTimes, 30000);
