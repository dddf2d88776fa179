// Progressive enhancement only: every page works without this file.
// Sortable tables: a table marked data-sortable holds all of its rows (a
// list too long for one page sorts on the server, through links in its
// headers), so its headers become buttons that sort the rows shown here:
// reachable by Tab, pressed with Enter or Space, the order announced with
// aria-sort.
(function () {
  // A cell's value for sorting: its data-value when it has one (exact
  // amounts, seconds), else its text; in a numeric column (th.num) the
  // text is read as a number, thousands separators and currency signs
  // aside, and a cell with no number ("—", "not rated") sorts first.
  function value(cell, numeric) {
    var v = cell.getAttribute("data-value");
    if (v === null) v = cell.textContent.trim();
    if (!numeric) return v;
    var n = parseFloat(v.replace(/[^0-9.eE+-]/g, "").replace(/^[+]/, ""));
    return isNaN(n) ? -Infinity : n;
  }
  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    if (!body) return;
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.classList.contains("num");
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      if (!a.cells[idx] || !b.cells[idx]) return 0;
      var x = value(a.cells[idx], numeric), y = value(b.cells[idx], numeric);
      var cmp = numeric ? (x < y ? -1 : x > y ? 1 : 0) : x.localeCompare(y, undefined, { numeric: true });
      return asc ? cmp : -cmp;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function enhance() {
    document.querySelectorAll("table[data-sortable] thead th").forEach(function (th) {
      if (th.querySelector("button, a") || !th.textContent.trim()) return;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      while (th.firstChild) b.appendChild(th.firstChild);
      th.appendChild(b);
    });
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("table[data-sortable] th > button.sort");
    if (b) sortBy(b.parentNode);
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhance);
  else enhance();
})();

// Charts (templates/charts.templ): each bar is focusable and its value
// label shows on focus and hover by CSS alone. Here: a tap focuses the
// bar (Safari does not focus on tap), arrow keys move between bars, and
// the focused or hovered bar's label is copied above every bar, where a
// taller neighbour drawn later cannot cover it.
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  function point(el) { return el && el.closest ? el.closest(".chart .point") : null; }
  function show(p) {
    var svg = p.ownerSVGElement, v = p.querySelector(".value");
    if (!svg || !v) return;
    var tip = svg.querySelector(".tip");
    if (!tip) {
      tip = document.createElementNS(SVG, "text");
      tip.setAttribute("class", "value tip");
      tip.setAttribute("aria-hidden", "true");
      svg.appendChild(tip);
    }
    ["x", "y", "text-anchor"].forEach(function (a) { tip.setAttribute(a, v.getAttribute(a)); });
    tip.textContent = v.textContent;
    svg.classList.add("tipping");
  }
  function hide(svg) {
    var focused = point(document.activeElement);
    if (focused && focused.ownerSVGElement === svg) { show(focused); return; }
    svg.classList.remove("tipping");
  }
  document.addEventListener("click", function (ev) { var p = point(ev.target); if (p) p.focus(); });
  document.addEventListener("focusin", function (ev) { var p = point(ev.target); if (p) show(p); });
  document.addEventListener("focusout", function (ev) {
    var p = point(ev.target);
    if (p && !point(ev.relatedTarget)) p.ownerSVGElement.classList.remove("tipping");
  });
  document.addEventListener("mouseover", function (ev) { var p = point(ev.target); if (p) show(p); });
  document.addEventListener("mouseout", function (ev) {
    var p = point(ev.target);
    if (p && point(ev.relatedTarget) !== p) hide(p.ownerSVGElement);
  });
  document.addEventListener("keydown", function (ev) {
    var p = point(ev.target);
    if (!p) return;
    var all = Array.prototype.slice.call(p.parentNode.querySelectorAll(".point"));
    var i = all.indexOf(p), next = null;
    if (ev.key === "ArrowRight") next = all[i + 1];
    else if (ev.key === "ArrowLeft") next = all[i - 1];
    else if (ev.key === "Home") next = all[0];
    else if (ev.key === "End") next = all[all.length - 1];
    if (next) { ev.preventDefault(); next.focus(); }
  });
})();

// Admin ingest page: "Ingest now" without leaving the page. The form posts
// as usual without this script; with it, the post is a fetch and the
// schedule and runs (#ingest-live) are refreshed from /admin/ingest/live
// every two seconds while a run goes on or waits, for two minutes at most.
document.addEventListener("submit", function (ev) {
  var form = ev.target.closest("form[data-ingest-now]");
  if (!form || !window.fetch) return;
  ev.preventDefault();
  var button = form.querySelector("button");
  var message = document.querySelector("[data-ingest-message]");
  var say = function (text) { if (message) message.textContent = text; };
  button.disabled = true;
  fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin",
    headers: { "X-Tally-Fetch": "1", "Accept": "application/json" } })
    .then(function (resp) {
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.json();
    })
    .then(function (answer) {
      say(answer.message);
      var polls = 0;
      var poll = function () {
        polls++;
        fetch("/admin/ingest/live", { credentials: "same-origin" })
          .then(function (resp) {
            if (!resp.ok) throw new Error("HTTP " + resp.status);
            return resp.text();
          })
          .then(function (html) {
            var live = document.getElementById("ingest-live");
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("ingest-live");
            if (live && fresh) live.replaceWith(fresh);
            if ((polls < 2 || (fresh && fresh.getAttribute("data-busy") === "true")) && polls < 60) {
              setTimeout(poll, 2000);
            } else {
              say(polls >= 60 ? "Still running: reload the page later to see the run." : "Ingest finished: the runs below are current.");
              button.disabled = false;
            }
          })
          .catch(function () { say("Could not follow the run: reload the page to see it."); button.disabled = false; });
      };
      setTimeout(poll, 500);
    })
    .catch(function () { form.submit(); }); // fall back to the plain post
});

// A wide screen has room for the filters a phone keeps behind a summary
// (also once a phone turns sideways or a window widens).
var wide = window.matchMedia("(min-width: 40rem)");
function openWide() {
  if (!wide.matches) return;
  document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
}
openWide();
wide.addEventListener("change", openWide);

// The header's menus (Admin, and the phone's Menu) close on a click
// elsewhere or on Escape, as menus do.
function closeMenus(except) {
  document.querySelectorAll(".site-header details[open]").forEach(function (d) {
    if (d !== except) d.open = false;
  });
}
document.addEventListener("click", function (ev) {
  closeMenus(ev.target.closest(".site-header details"));
});
document.addEventListener("keydown", function (ev) {
  if (ev.key === "Escape") closeMenus(null);
});
