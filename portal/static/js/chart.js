// Draws the dataset page's chart: asks the portal for aggregated values, renders with Vega-Lite
// (vendored, no CDN). Values are computed server-side, so a 10-million-row table charts instantly.
(function () {
  "use strict";
  var form = document.querySelector(".chart-form");
  if (!form) { return; }
  var view = document.getElementById("chart-view");
  var error = document.querySelector(".chart-error");

  function spec(data, kind) {
    var yTitle = data.aggregate === "count" ? "count" : data.aggregate + "(" + data.y + ")";
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      width: Math.max(280, view.clientWidth - 90), height: 280,
      data: { values: data.values },
      mark: { type: kind, tooltip: true, point: kind === "line" },
      encoding: {
        x: { field: "x", type: kind === "bar" ? "ordinal" : guessType(data.values), title: data.x, sort: null },
        y: { field: "value", type: "quantitative", title: yTitle }
      }
    };
  }

  function guessType(values) {
    return values.every(function (v) { return typeof v.x === "number"; }) ? "quantitative" : "ordinal";
  }

  function draw(event) {
    if (event) { event.preventDefault(); }
    var params = new URLSearchParams(new FormData(form));
    var kind = params.get("kind") || "bar";
    params.delete("kind");
    error.hidden = true;
    fetch(form.dataset.endpoint + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { throw new Error(res.body.detail || res.body.title); }
        // The page's CSP forbids eval: Vega evaluates expressions with its interpreter, and
        // vega-embed must not inject its default <style> element.
        return vegaEmbed(view, spec(res.body, kind), {
          actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter, defaultStyle: false, tooltip: { disableDefaultStyle: true }
        });
      })
      .catch(function (e) { error.textContent = e.message; error.hidden = false; });
  }

  form.addEventListener("submit", draw);
  window.addEventListener("load", function () { draw(); });
})();
