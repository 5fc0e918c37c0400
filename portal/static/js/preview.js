// The preview table: the filter form sends only the filters in effect (empty boxes and their
// operator menus are left out; the server turns the rest into column__op=value and redirects),
// a changed operator renames its box, and a "Columns" menu hides and shows columns (remembered
// for this dataset in sessionStorage). External file, no inline handlers: strict CSP.
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-form]");
  if (!form) { return; }
  var NO_VALUE = { empty: true, notempty: true };

  form.querySelectorAll("tr.filters select").forEach(function (select) {
    select.addEventListener("change", function () {
      var input = select.parentNode.querySelector("input");
      var column = select.name.slice(3);
      input.name = column + "__" + select.value;
      input.disabled = !!NO_VALUE[select.value];
    });
    var input = select.parentNode.querySelector("input");
    input.disabled = !!NO_VALUE[select.value];
  });

  form.addEventListener("submit", function () {
    form.querySelectorAll("tr.filters .filter-cell").forEach(function (cell) {
      var select = cell.querySelector("select"), input = cell.querySelector("input");
      if (!NO_VALUE[select.value] && input.value.trim() === "") {
        select.disabled = true;
        input.disabled = true;
      }
    });
  });

  var menu = document.querySelector(".columns-menu");
  var table = form.querySelector("table.rows");
  if (!menu || !table) { return; }
  var key = "kaifang-hidden-columns:" + location.pathname;
  var hidden = {};
  try { hidden = JSON.parse(sessionStorage.getItem(key) || "{}"); } catch (e) { hidden = {}; }

  function apply(index, show) {
    table.querySelectorAll("[data-column='" + index + "']").forEach(function (cell) {
      cell.classList.toggle("column-hidden", !show);
    });
  }
  menu.querySelectorAll("input[type=checkbox]").forEach(function (box) {
    var index = box.dataset.column;
    if (hidden[index]) { box.checked = false; apply(index, false); }
    box.addEventListener("change", function () {
      apply(index, box.checked);
      if (box.checked) { delete hidden[index]; } else { hidden[index] = true; }
      try { sessionStorage.setItem(key, JSON.stringify(hidden)); } catch (e) { /* private mode */ }
    });
  });
  menu.hidden = false;
}());
