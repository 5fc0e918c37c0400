// Search boxes: completions from /api/v1/search/suggest in a <datalist> (titles and tags, by
// prefix, pinyin or pinyin initials), and sort menus that apply on change. No inline handlers,
// so the page works under a strict Content-Security-Policy; without JS, the forms still submit.
(function () {
  "use strict";
  var DELAY_MS = 120;

  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    if (!list) { return; }
    var timer = null, last = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var text = input.value.trim();
        if (!text || text === last) { return; }
        last = text;
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(text), { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
          .then(function (body) {
            if (input.value.trim() !== text) { return; }
            list.replaceChildren.apply(list, body.suggestions.map(function (s) {
              var option = document.createElement("option");
              option.value = s.label;
              return option;
            }));
          })
          .catch(function () { /* completions are a convenience: stay silent */ });
      }, DELAY_MS);
    });
  }

  document.querySelectorAll("input[data-suggest]").forEach(attach);
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
}());
