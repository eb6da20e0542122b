// AIR pages: optional progressive enhancement, no build step. Without it
// every page still works: forms post, links navigate, a reload shows
// what changed; the server refuses a bulk decision of mixed types.

// Live pages. The server streams changes (GET /live, Server-Sent Events,
// already filtered to what the signed-in person may see). A page that
// follows something (body data-live-follow: "incidents", "actions" or
// "incident:<id>") re-reads its own URL when a change concerns it and
// swaps each region marked data-live whose markup changed. Its filters
// are in the URL, so they hold; ticked boxes and typed text inside a
// swapped region are carried over; the focus and the scroll stay. New
// rows are marked "fresh" for a moment. The top bar's pending count
// follows every action change.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var count = document.getElementById("live-count");
  if (!count) { return; } // signed out
  var follow = document.body.getAttribute("data-live-follow") || "";
  // served holds each region's markup as the server last sent it, taken
  // before any script changes classes, so that "unchanged" compares
  // server markup with server markup.
  var served = {};
  function markup(el) { return el.className + "\n" + el.innerHTML; }
  document.querySelectorAll("[data-live][id]").forEach(function (el) { served[el.id] = markup(el); });

  function concerns(e) {
    if (e.overflow) { return true; }
    if (follow === "incidents") { return e.kind === "incident"; }
    if (follow === "actions") { return e.kind === "action" || e.kind === "question"; }
    if (follow.indexOf("incident:") === 0) { return String(e.incidentId) === follow.slice(9); }
    return false;
  }

  // runner coalesces a burst of events into one run at a time: at most one
  // waiting, none in parallel.
  function runner(fn, delay) {
    var timer = null, busy = false, again = false;
    function go() {
      timer = null;
      if (busy) { again = true; return; }
      busy = true;
      fn().catch(function () {}).then(function () {
        busy = false;
        if (again) { again = false; kick(); }
      });
    }
    function kick() { if (!timer) { timer = setTimeout(go, delay); } }
    return kick;
  }

  function controls(root) {
    return Array.prototype.slice.call(root.querySelectorAll("input[name], textarea[name], select[name]"));
  }
  function keyOf(c) {
    return c.type === "checkbox" || c.type === "radio" ? c.name + "=" + c.value : c.name;
  }
  // state records what the person did in a region: ticks that differ from
  // the served page, typed text, chosen options.
  function state(root) {
    var s = {};
    controls(root).forEach(function (c) {
      if (c.type === "hidden" || c.type === "submit") { return; }
      if (c.type === "checkbox" || c.type === "radio") {
        if (c.checked !== c.defaultChecked) { s[keyOf(c)] = c.checked; }
      } else if (c.tagName === "SELECT") {
        var changed = Array.prototype.some.call(c.options, function (o) { return o.selected !== o.defaultSelected; });
        if (changed) { s[keyOf(c)] = Array.prototype.map.call(c.selectedOptions, function (o) { return o.value; }); }
      } else if (c.value !== c.defaultValue) {
        s[keyOf(c)] = c.value;
      }
    });
    return s;
  }
  function restore(root, s) {
    controls(root).forEach(function (c) {
      var v = s[keyOf(c)];
      if (v === undefined) { return; }
      if (c.type === "checkbox" || c.type === "radio") { c.checked = v; }
      else if (c.tagName === "SELECT") { Array.prototype.forEach.call(c.options, function (o) { o.selected = v.indexOf(o.value) >= 0; }); }
      else { c.value = v; }
    });
  }

  function swap(old, fresh) {
    var m = markup(fresh);
    if (served[old.id] === m) { return false; }
    served[old.id] = m;
    var kept = state(old);
    var focus = document.activeElement && old.contains(document.activeElement) && document.activeElement.name
      ? keyOf(document.activeElement) : "";
    var known = {};
    Array.prototype.forEach.call(old.children, function (c) { if (c.id) { known[c.id] = true; } });
    var had = Object.keys(known).length > 0;
    old.className = fresh.className;
    old.innerHTML = fresh.innerHTML;
    restore(old, kept);
    if (had) {
      Array.prototype.forEach.call(old.children, function (c) {
        if (c.id && !known[c.id]) { c.classList.add("fresh"); }
      });
    }
    if (focus) {
      var f = controls(old).filter(function (c) { return keyOf(c) === focus; })[0];
      if (f) { f.focus(); }
    }
    return true;
  }

  var refresh = runner(function () {
    return fetch(location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-AIR-Live": "1" } })
      .then(function (r) {
        var type = r.headers.get("Content-Type") || "";
        if (!r.ok || r.redirected || type.indexOf("text/html") !== 0) { return null; } // signed out, gone: leave the page be
        return r.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var changed = false;
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var fresh = doc.getElementById(old.id);
          if (fresh && swap(old, fresh)) { changed = true; }
        });
        if (changed) { document.dispatchEvent(new CustomEvent("air:updated")); }
      });
  }, 150);

  var recount = runner(function () {
    return fetch("/actions/count", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v || typeof v.pending !== "number") { return; }
        count.textContent = String(v.pending);
        count.classList.toggle("zero", v.pending === 0);
        served[count.id] = markup(count);
      });
  }, 150);

  var source = new EventSource("/live");
  source.addEventListener("change", function (m) {
    var e;
    try { e = JSON.parse(m.data); } catch (err) { return; }
    if (follow && concerns(e)) { refresh(); }
    else if (e.overflow || e.kind === "action") { recount(); }
  });
  source.addEventListener("signedout", function () { source.close(); });
  // After a reconnect, changes may have been missed: re-read once.
  var opened = false;
  source.addEventListener("open", function () {
    if (opened) { if (follow) { refresh(); } else { recount(); } }
    opened = true;
  });
  document.documentElement.setAttribute("data-live-ready", "");
})();

// Bulk selection. Pending actions: checking an action disables the
// actions of other types, and "all" checks every action of the first
// checked type. The incident queue: "all" checks every incident on the
// page. Live updates replace rows, so the boxes are looked up each time.
(function () {
  "use strict";
  var all = document.getElementById("all");
  var label = document.getElementById("selected");
  var idle = label ? label.textContent : "";
  var selector = "input[type=checkbox][name=id]";
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll(selector)); }

  function update() {
    var bs = boxes();
    var typed = bs.some(function (b) { return b.dataset.type; });
    var checked = bs.filter(function (b) { return b.checked; });
    var type = typed && checked.length ? checked[0].dataset.type : "";
    bs.forEach(function (b) {
      b.disabled = type !== "" && b.dataset.type !== type;
      b.closest("tr").classList.toggle("selected", b.checked);
    });
    if (label) {
      label.textContent = !checked.length ? idle
        : typed ? checked.length + " selected (" + type + ")"
        : checked.length + (checked.length === 1 ? " incident" : " incidents") + " selected";
    }
    if (all) { all.checked = checked.length > 0 && bs.every(function (b) { return b.checked || b.disabled; }); }
  }

  document.addEventListener("change", function (e) {
    if (e.target !== all && e.target.matches && e.target.matches(selector)) { update(); }
  });
  if (all) {
    all.addEventListener("change", function () {
      var bs = boxes();
      if (!bs.length) { return; }
      var typed = bs.some(function (b) { return b.dataset.type; });
      var first = bs.filter(function (b) { return b.checked; })[0] || bs[0];
      bs.forEach(function (b) { b.checked = all.checked && (!typed || b.dataset.type === first.dataset.type); });
      update();
    });
  }
  document.addEventListener("air:updated", update);
  update();
})();
