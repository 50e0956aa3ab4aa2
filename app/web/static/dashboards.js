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

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
