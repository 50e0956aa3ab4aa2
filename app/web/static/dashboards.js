// Platform Logs, a dashboard page: the time picker of the search page (search.js: times in the
// browser's zone beside UTC), and auto-refresh (off / 30 s / 1 min / 5 min), kept in the URL so
// that a shared link opens the same range and refresh. Charts are drawn by charts.js.
"use strict";

(function () {
  const PERIOD_MS = { "30s": 30e3, "1m": 60e3, "5m": 300e3 };

  function setup() {
    const form = document.getElementById("dashboard-form");
    if (!form) return;
    if (typeof setupTimePicker === "function") setupTimePicker(form);   // from search.js
    const select = form.querySelector("select[name=refresh]");
    select.addEventListener("change", () => {
      const url = new URL(window.location.href);
      url.searchParams.set("refresh", select.value);
      window.location.assign(url.toString());
    });
    const period = PERIOD_MS[form.dataset.refresh];
    if (period) {
      // reload the same URL: a relative range (now-24h) moves on, an absolute one stays
      window.setTimeout(() => { if (!document.hidden) window.location.reload(); else schedule(); }, period);
    }
    function schedule() {
      document.addEventListener("visibilitychange", () => { if (!document.hidden) window.location.reload(); }, { once: true });
    }
  }

  // Times inside panels (event lists, status cells): the local time alone, UTC on hover — the
  // range above the panels shows the zone and UTC in full. Runs after search.js's localiseTimes.
  function compactTimes() {
    document.querySelectorAll(".panel time[datetime]").forEach((el) => {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      const pad = (n) => String(n).padStart(2, "0");
      el.textContent = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
        pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
      el.title = date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    });
  }

  // a deferred script runs before DOMContentLoaded (readyState "interactive"): wait for it, so
  // that search.js's listener, added before this one, has localised the times first
  if (document.readyState !== "complete") {
    document.addEventListener("DOMContentLoaded", setup);
    document.addEventListener("DOMContentLoaded", compactTimes);
  } else {
    setup();
    compactTimes();
  }
})();
