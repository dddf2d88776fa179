// Progressive enhancement only: every page works without this file.
// Sortable tables: click a header of a table marked data-sortable.
document.addEventListener("click", function (ev) {
  var th = ev.target.closest("table[data-sortable] th");
  if (!th) return;
  var table = th.closest("table");
  var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
  var body = table.tBodies[0];
  if (!body) return;
  var asc = th.getAttribute("aria-sort") !== "ascending";
  Array.prototype.forEach.call(th.parentNode.children, function (c) { c.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[idx].getAttribute("data-value") || a.cells[idx].textContent.trim();
    var y = b.cells[idx].getAttribute("data-value") || b.cells[idx].textContent.trim();
    var nx = parseFloat(x), ny = parseFloat(y);
    var cmp = (!isNaN(nx) && !isNaN(ny) && String(nx) === x && String(ny) === y) ? nx - ny : x.localeCompare(y);
    return asc ? cmp : -cmp;
  });
  rows.forEach(function (r) { body.appendChild(r); });
});

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
