// Platform Logs, the search page: times in the browser's zone beside UTC, the time picker,
// autocomplete of field names and top values, and the keys `/`, Esc and Enter.
// No inline scripts (CSP); values from the server reach the page only through textContent.
"use strict";

const pad = (n, width = 2) => String(n).padStart(width, "0");

function zoneLabel(date) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const offset = "UTC" + sign + pad(Math.floor(Math.abs(minutes) / 60)) + ":" + pad(Math.abs(minutes) % 60);
  let zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (_) { /* an old browser */ }
  return zone && zone !== "UTC" ? zone + ", " + offset : offset;
}

function localText(date) {
  return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
    pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
}

function utcText(date) {
  return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) + " " +
    pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + ":" + pad(date.getUTCSeconds()) + " UTC";
}

// A time as the server reads it (ISO-8601, epoch ms, now, now-15m…) -> Date, or null.
const UNIT_MS = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };
function parseTime(text) {
  const raw = (text || "").trim();
  if (!raw) return null;
  const relative = /^now(?:([+-])(\d{1,9})([smhdw]))?$/.exec(raw);
  if (relative) {
    const delta = relative[1] ? Number(relative[2]) * UNIT_MS[relative[3]] * (relative[1] === "-" ? -1 : 1) : 0;
    return new Date(Date.now() + delta);
  }
  if (/^\d{10,}$/.test(raw)) return new Date(Number(raw));
  // ISO without a zone is UTC to the server: say so to the browser too
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(raw) ? raw + "Z" : raw;
  const date = new Date(iso);
  return isNaN(date.getTime()) || !/^\d{4}-\d\d-\d\d/.test(raw) ? null : date;
}

// <time datetime="…Z"> written by the server in UTC: the browser's local time, UTC beside it.
// In the results table (data-row) the local time alone, to the millisecond, with UTC on hover and
// the zone once in the column's header.
function localiseTimes(root) {
  root.querySelectorAll("time[datetime]").forEach((el) => {
    const date = new Date(el.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    if (el.hasAttribute("data-row")) {
      const ms = "." + String(date.getMilliseconds()).padStart(3, "0");
      el.textContent = localText(date) + ms;
      el.title = utcText(date).replace(" UTC", ms + " UTC");
      return;
    }
    el.textContent = localText(date) + " (" + zoneLabel(date) + ") · " + utcText(date);
    el.title = utcText(date);
  });
  root.querySelectorAll("th[data-zone-header] .zone").forEach((el) => {
    el.textContent = zoneLabel(new Date());
    el.title = "times in your browser's zone; hover a time for UTC";
  });
}

// The time picker: beside each of from / to, what it means in the browser's zone and in UTC,
// and a local date-time input that writes the UTC ISO time into the field the form sends.
function setupTimePicker(form) {
  form.querySelectorAll("input[data-time]").forEach((input) => {
    const out = form.querySelector("[data-local-for='" + input.dataset.time + "']");
    const picker = document.createElement("input");
    picker.type = "datetime-local";
    picker.step = "1";
    picker.className = "local-picker";
    picker.setAttribute("aria-label", (input.dataset.time === "from" ? "From" : "To") + ", in your time zone");
    input.closest("label").after(picker);
    const show = () => {
      const date = parseTime(input.value);
      if (!date) {
        out.textContent = input.value.trim() ? "not a time" : (input.dataset.time === "to" ? "now" : "the beginning");
        return;
      }
      out.textContent = localText(date) + " (" + zoneLabel(date) + ") · " + utcText(date);
      picker.value = localText(date).replace(" ", "T");
    };
    picker.addEventListener("change", () => {
      const date = picker.value ? new Date(picker.value) : null;   // a datetime-local value is local time
      if (date && !isNaN(date.getTime())) input.value = date.toISOString().replace(".000Z", "Z");
      show();
    });
    input.addEventListener("input", show);
    show();
  });
}

// The text of a query token -> how to complete it: a field name, or a value of a field.
function tokenAt(text, caret) {
  let start = caret;
  let quoted = false;
  for (let i = 0; i < caret; i++) if (text[i] === '"') quoted = !quoted;
  while (start > 0) {
    const c = text[start - 1];
    if (c === '"') { quoted = !quoted; }
    if (!quoted && /[\s()]/.test(c)) break;
    start--;
  }
  let token = text.slice(start, caret);
  let lead = 0;
  while (token[lead] === "-" || token[lead] === "+") lead++;
  token = token.slice(lead);
  const colon = token.indexOf(":");
  if (colon < 0) return { kind: "field", start: start + lead, text: token };
  let value = token.slice(colon + 1);
  let ops = "";
  const op = /^(>=|<=|>|<)/.exec(value);
  if (op) { ops = op[0]; value = value.slice(ops.length); }
  return { kind: "value", start: start + lead, field: token.slice(0, colon), ops, text: value.replace(/^"/, "") };
}

function quoteValue(value) {
  const text = String(value);
  return /^[\w.@\-\/]+$/.test(text) && !/^(AND|OR|NOT|TO)$/.test(text) ? text : '"' + text.replace(/(["\\])/g, "\\$1") + '"';
}

function setupSuggestions(form) {
  const box = form.querySelector("input[name=q]");
  const list = document.getElementById("suggestions");
  const url = box.dataset.suggestUrl;
  let fields = null, items = [], active = -1, timer = null, generation = 0;
  const cache = new Map();

  const close = () => {
    list.hidden = true;
    list.replaceChildren();
    items = [];
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  };
  const highlight = (index) => {
    active = index;
    Array.from(list.children).forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    if (index >= 0 && list.children[index]) {
      box.setAttribute("aria-activedescendant", list.children[index].id);
      list.children[index].scrollIntoView({ block: "nearest" });
    }
  };
  const choose = (item) => {
    if (!item || item.disabled) return;
    const text = box.value, caret = box.selectionStart;
    let end = caret;
    while (end < text.length && !/[\s()]/.test(text[end])) end++;
    const before = text.slice(0, item.start), after = text.slice(end);
    const inserted = item.kind === "field" ? item.name + ":" : item.field + ":" + item.ops + quoteValue(item.value) + " ";
    box.value = before + inserted + after;
    const at = before.length + inserted.length;
    box.setSelectionRange(at, at);
    box.focus();
    close();
    update();   // a field just completed: its values come next
  };
  const render = (rows, note) => {
    list.replaceChildren();
    items = rows;
    rows.forEach((item, i) => {
      const li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      if (item.disabled) li.setAttribute("aria-disabled", "true");
      const main = document.createElement("span");
      main.className = "label";
      main.textContent = item.label;
      const side = document.createElement("span");
      side.className = "side";
      side.textContent = item.side;
      li.append(main, side);
      li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(item); });
      list.appendChild(li);
    });
    if (note) {
      const li = document.createElement("li");
      li.className = "note";
      li.textContent = note;
      list.appendChild(li);
    }
    list.hidden = !rows.length && !note;
    box.setAttribute("aria-expanded", String(!list.hidden));
    active = -1;
  };
  const getJSON = async (query) => {
    if (cache.has(query)) return cache.get(query);
    const response = await fetch(url + "?" + query, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = response.ok ? await response.json() : null;
    if (response.ok) cache.set(query, body);
    return body;
  };
  const update = async () => {
    const mine = ++generation;
    const token = tokenAt(box.value, box.selectionStart);
    if (token.kind === "field") {
      if (!token.text) { close(); return; }
      if (fields === null) fields = ((await getJSON("")) || { fields: [] }).fields;
      if (mine !== generation) return;
      const typed = token.text.toLowerCase();
      const rank = (f) => (f.name.startsWith(typed) ? 0 : f.name.split(/[._]/).some((p) => p.startsWith(typed)) ? 1 : 2);
      const found = fields.filter((f) => f.name.toLowerCase().includes(typed) && f.name.toLowerCase() !== typed)
        .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name)).slice(0, 12);
      render(found.map((f) => ({ kind: "field", start: token.start, name: f.name, label: f.name,
                                 side: f.type + (f.personal ? " · personal" : "") })));
      return;
    }
    const params = new URLSearchParams({ field: token.field, prefix: token.text });
    ["from", "to", "stream"].forEach((name) => {
      const input = form.querySelector("[name=" + name + "]");
      if (input) params.set(name, input.value);
    });
    const body = await getJSON(params.toString());
    if (mine !== generation) return;
    if (!body || !body.values) { close(); return; }
    const rows = body.values.map((v) => ({ kind: "value", start: token.start, field: body.field, ops: token.ops,
                                           value: v.value, label: String(v.value), disabled: body.masked,
                                           side: Number(v.count).toLocaleString() }));
    const note = body.masked ? "masked personal values: type the whole exact value to search for it"
      : (body.timed_out ? "counting ran out of time: partial" : (rows.length ? "" : "no values in this time range"));
    render(rows, note);
  };
  // what is on the list belongs to what was typed before: gone at once (and answers still on
  // their way are dropped), so Enter never takes a suggestion for another word
  const later = () => { clearTimeout(timer); generation++; close(); timer = setTimeout(update, 150); };

  box.addEventListener("input", later);
  box.addEventListener("focus", () => { if (box.value) later(); });
  box.addEventListener("blur", () => setTimeout(close, 150));
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {   // clears the query (and closes the suggestions)
      e.preventDefault();
      box.value = "";
      close();
    } else if (e.key === "ArrowDown" && items.length) {
      e.preventDefault();
      highlight(Math.min(items.length - 1, active + 1));
    } else if (e.key === "ArrowUp" && items.length) {
      e.preventDefault();
      highlight(Math.max(-1, active - 1));
    } else if (e.key === "Enter" || e.key === "Tab") {
      if (active >= 0 && items[active] && !items[active].disabled) {   // takes the highlighted suggestion
        e.preventDefault();
        choose(items[active]);
      } else if (e.key === "Enter") {   // searches: the query as typed, the time range kept
        e.preventDefault();
        close();
        form.requestSubmit(form.querySelector(".search-button"));
      }
    }
  });
}

// `/` anywhere but in a field of a form: to the query box.
function setupKeys(form) {
  const box = form.querySelector("input[name=q]");
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    e.preventDefault();
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localiseTimes(document);
  const form = document.getElementById("search-form");
  if (!form) return;
  setupTimePicker(form);
  setupSuggestions(form);
  setupKeys(form);
});
