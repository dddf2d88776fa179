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
