// Platform Logs: small enhancements of server-rendered pages. No inline scripts (CSP), and
// log data only ever reaches the page through textContent.
"use strict";

// Histogram: drag across the chart to zoom into that time range (a click on a bar is a link).
function setupHistogram(figure) {
  const svg = figure.querySelector("svg");
  const bars = Array.from(svg.querySelectorAll("a[data-start-ms]"));
  if (!bars.length) return;
  const width = Number(figure.dataset.widthMs);
  const band = document.createElement("div");
  band.className = "drag-band";
  figure.appendChild(band);
  let startIndex = null;
  const indexAt = (x) => {
    const box = svg.getBoundingClientRect();
    return Math.max(0, Math.min(bars.length - 1, Math.floor(((x - box.left) / box.width) * bars.length)));
  };
  const showBand = (a, b) => {
    const box = svg.getBoundingClientRect(), fig = figure.getBoundingClientRect();
    const lo = Math.min(a, b), hi = Math.max(a, b);
    band.style.left = (box.left - fig.left + (lo / bars.length) * box.width) + "px";
    band.style.width = (((hi - lo + 1) / bars.length) * box.width) + "px";
    band.style.display = "block";
  };
  svg.addEventListener("mousedown", (e) => { startIndex = indexAt(e.clientX); e.preventDefault(); });
  svg.addEventListener("mousemove", (e) => { if (startIndex !== null) showBand(startIndex, indexAt(e.clientX)); });
  window.addEventListener("mouseup", (e) => {
    if (startIndex === null) return;
    const endIndex = indexAt(e.clientX);
    const lo = Math.min(startIndex, endIndex), hi = Math.max(startIndex, endIndex);
    startIndex = null;
    band.style.display = "none";
    if (lo === hi) return;   // a click: the bar's own link zooms to it
    const url = new URL(figure.dataset.zoomUrl, window.location.href);
    // ISO-8601 UTC in the URL (readable, and shown in the time picker as it is), not epoch ms
    url.searchParams.set("from", new Date(Number(bars[lo].dataset.startMs)).toISOString());
    url.searchParams.set("to", new Date(Number(bars[hi].dataset.startMs) + width).toISOString());
    window.location.assign(url.toString());
  });
}

// Live tail: Server-Sent Events, newest on top, a cap on the rows kept, pause and resume.
function setupTail(root) {
  const rows = document.getElementById("tail-rows");
  const status = document.getElementById("tail-status");
  const pause = document.getElementById("tail-pause");
  const maxRows = Number(root.dataset.maxRows) || 500;
  let source = null, paused = false, received = 0, skipped = 0, held = [];

  const render = (events) => {
    const fragment = document.createDocumentFragment();
    for (const ev of events) {
      const tr = document.createElement("tr");
      tr.className = "level-" + String(ev.level).replace(/[^a-z]/g, "");
      ev.cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 0 && ev.id) {
          const a = document.createElement("a");
          a.href = "/events/" + encodeURIComponent(ev.id);
          a.textContent = text;
          td.className = "ts";
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
        tr.appendChild(td);
      });
      fragment.prepend(tr);
    }
    rows.prepend(fragment);
    while (rows.children.length > maxRows) rows.lastElementChild.remove();
  };
  const say = () => {
    status.textContent = (paused ? "paused · " : "following · ") + received + " events" +
      (skipped ? " · " + skipped + " left out (over the rate cap)" : "") + (held.length ? " · " + held.length + " waiting" : "");
  };
  const connect = () => {
    source = new EventSource(root.dataset.streamUrl);
    source.onopen = say;
    source.onmessage = (message) => {
      const data = JSON.parse(message.data);
      received += data.events.length;
      skipped += data.skipped || 0;
      if (paused) {
        held = held.concat(data.events).slice(-maxRows);
      } else {
        render(data.events);
      }
      say();
    };
    source.onerror = () => { status.textContent = "reconnecting…"; };
  };
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused && held.length) { render(held); held = []; }
    say();
  });
  connect();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("figure.histogram").forEach(setupHistogram);
  const tail = document.getElementById("tail");
  if (tail) setupTail(tail);
});
