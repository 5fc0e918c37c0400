// Small form behaviours, kept out of the templates so the CSP needs no inline script:
// a <select data-autosubmit> submits its form when changed (the sort order of lists).
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
// Facets of lists start folded behind a "Filter" button on a phone (they are open without script).
(function () {
  "use strict";
  if (!window.matchMedia("(max-width: 720px)").matches) { return; }
  document.querySelectorAll("details[data-facets]").forEach(function (details) { details.open = false; });
}());
