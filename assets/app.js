// hookbin's only script: copy buttons, confirmations, and live rows on a bin page.
// Everything captured is inserted with textContent, never as markup.
"use strict";

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button[data-copy]");
  if (!btn) return;
  const text = btn.getAttribute("data-copy");
  const done = () => { const old = btn.textContent; btn.textContent = "Copied"; setTimeout(() => { btn.textContent = old; }, 1200); };
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

function cell(child) {
  const td = document.createElement("td");
  if (typeof child === "string") td.textContent = child; else td.appendChild(child);
  return td;
}

function requestRow(r) {
  const tr = document.createElement("tr");
  tr.className = "fresh";
  const pick = document.createElement("input");
  pick.type = "checkbox";
  pick.name = "ids";
  pick.value = r.id;
  pick.setAttribute("form", "export");
  pick.setAttribute("aria-label", "Select " + r.method + " " + r.path);
  tr.appendChild(cell(pick));
  const method = document.createElement("span");
  method.className = "method " + methodClass(r.method);
  method.textContent = r.method;
  tr.appendChild(cell(method));
  const link = document.createElement("a");
  link.href = "/requests/" + encodeURIComponent(r.id);
  link.textContent = r.query ? r.path + "?" + r.query : r.path;
  const target = cell(link);
  target.className = "target";
  tr.appendChild(target);
  const ctype = cell(r.content_type || "");
  ctype.className = "ctype";
  tr.appendChild(ctype);
  const size = cell(humanSize(r.body_size));
  size.className = "num";
  tr.appendChild(size);
  const status = cell(String(r.response_status));
  status.className = "num";
  tr.appendChild(status);
  const time = document.createElement("time");
  time.dateTime = r.received_at;
  time.title = r.received_at;
  time.textContent = r.received_at;
  tr.appendChild(cell(time));
  return tr;
}

function followBin(table) {
  const source = new EventSource(table.getAttribute("data-live"));
  const body = table.querySelector("tbody");
  const empty = document.getElementById("empty-state");
  const count = document.getElementById("request-count");
  // The stream's state, for styling and for tests: "open" once the server follows the bin
  // for this page (it subscribes before answering), "reconnecting" while the browser retries.
  source.addEventListener("open", () => { table.dataset.stream = "open"; });
  source.addEventListener("error", () => { table.dataset.stream = "reconnecting"; });
  source.addEventListener("request", (ev) => {
    const r = JSON.parse(ev.data);
    const row = requestRow(r);
    body.insertBefore(row, body.firstChild);
    refreshTimes(row);
    table.hidden = false;
    if (empty) empty.hidden = true;
    if (count) count.textContent = String(Number(count.textContent) + 1);
  });
  source.addEventListener("lagged", () => window.location.reload());
}

const live = document.querySelector("table[data-live]");
if (live) followBin(live);

// The webhook form shows the payload of the event being chosen.
const eventSelect = document.getElementById("wh-event");
if (eventSelect) {
  eventSelect.addEventListener("change", () => {
    for (const p of document.querySelectorAll(".preview[data-event]")) {
      p.hidden = p.getAttribute("data-event") !== eventSelect.value;
    }
  });
}

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
