// Draws the account's API calls per day per key with Vega-Lite (vendored). The counts come in
// the chart element's data-usage attribute, so no inline script is needed (CSP).
(function () {
  "use strict";
  var view = document.getElementById("usage-chart");
  if (!view) { return; }
  var values = JSON.parse(view.dataset.usage || "[]");
  if (!values.length) { return; }
  var spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    width: Math.max(280, view.clientWidth - 160), height: 260,
    data: { values: values },
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "day", type: "temporal", timeUnit: "utcyearmonthdate", title: view.dataset.dayTitle },
      y: { field: "calls", type: "quantitative", title: view.dataset.callsTitle },
      color: { field: "key", type: "nominal", title: view.dataset.keyTitle }
    }
  };
  vegaEmbed(view, spec, { actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter,
                          defaultStyle: false, tooltip: { disableDefaultStyle: true } });
})();
