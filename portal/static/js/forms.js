// Small form behaviours, kept out of the templates so the CSP needs no inline script:
// a <select data-autosubmit> submits its form when changed (the sort order of lists).
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
