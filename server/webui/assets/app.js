// Razor MK dashboard: confirmations, relative times and live updates.
// Pages work without it; it only adds to them.
"use strict";

// Ask before the actions that change a node or delete something.
document.addEventListener("submit", (e) => {
  const msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) e.preventDefault();
});

// Times are rendered relative by the server; keep them fresh.
function rel(t) {
  const d = (Date.now() - Date.parse(t)) / 1000;
  if (isNaN(d) || t.startsWith("0001-")) return "never";
  if (d < 0) return "just now";
  if (d < 60) return Math.floor(d) + " s ago";
  if (d < 3600) return Math.floor(d / 60) + " min ago";
  if (d < 172800) return Math.floor(d / 3600) + " h ago";
  return Math.floor(d / 86400) + " days ago";
}
function refreshTimes(root) {
  root.querySelectorAll("time[datetime]").forEach((el) => { el.textContent = rel(el.getAttribute("datetime")); });
}
setInterval(() => refreshTimes(document), 15000);

// Live parts: elements with data-live and an id are replaced by the same
// element of a fresh copy of the page whenever the server says the fleet
// (or this node) changed.
async function reloadLive() {
  const res = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  document.querySelectorAll("[data-live][id]").forEach((el) => {
    const fresh = doc.getElementById(el.id);
    if (fresh && fresh.innerHTML !== el.innerHTML) el.innerHTML = fresh.innerHTML;
  });
  document.body.dataset.liveVersion = String(Number(document.body.dataset.liveVersion || 0) + 1);
}
if (document.querySelector("[data-live]")) {
  const m = window.location.pathname.match(/^\/ui\/nodes\/([^/]+)$/);
  const es = new EventSource("/ui/live" + (m ? "?node=" + encodeURIComponent(decodeURIComponent(m[1])) : ""));
  es.addEventListener("change", () => { reloadLive().catch(() => {}); });
  es.addEventListener("hello", () => { document.body.dataset.live = "on"; });
}
