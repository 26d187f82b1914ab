// aicred console: progressive enhancement only; every page works without
// this file. No inline script anywhere (the Content-Security-Policy
// forbids it): behaviour hangs on ids and classes.
(function () {
  "use strict";
  var root = document.documentElement;

  // Theme: light or dark as the system prefers, or as chosen here.
  try {
    var saved = localStorage.getItem("aicred-theme");
    if (saved === "light" || saved === "dark") root.setAttribute("data-theme", saved);
  } catch (e) {}

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var dark = root.getAttribute("data-theme") === "dark" ||
          (!root.hasAttribute("data-theme") && window.matchMedia("(prefers-color-scheme: dark)").matches);
        var next = dark ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("aicred-theme", next); } catch (e) {}
      });
    }

    // Filters submit as soon as a select or a box changes.
    document.querySelectorAll(".autosubmit").forEach(function (el) {
      el.addEventListener("change", function () { if (el.form) el.form.submit(); });
    });

    document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });

    // Alerts arrive live (server-sent events); each event's data is the
    // table row, rendered and escaped by the server.
    var table = document.getElementById("alerts");
    if (table && window.EventSource) {
      var rows = document.getElementById("alert-rows");
      var open = document.getElementById("open-alerts");
      var src = new EventSource("/ui/alerts/stream?after=" + encodeURIComponent(table.getAttribute("data-after") || "0"));
      src.addEventListener("alert", function (ev) {
        var tpl = document.createElement("template");
        tpl.innerHTML = ev.data;
        var row = tpl.content.firstElementChild;
        if (!row || document.getElementById(row.id)) return;
        row.classList.add("fresh");
        rows.insertBefore(row, rows.firstChild);
        var none = document.getElementById("no-alerts");
        if (none) none.hidden = true;
        if (open) open.textContent = String(parseInt(open.textContent, 10) + 1);
      });
    }
  });
})();
