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
