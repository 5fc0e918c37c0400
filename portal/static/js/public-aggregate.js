// Draws the answer of a public aggregate (already in the page as a table) as bars with the
// vendored Vega-Lite: one bar per released cell, coloured by the second field when there is one.
// Suppressed cells (null) are not drawn; the table beside marks them and says why.
(function () {
  "use strict";
  var figure = document.querySelector(".public-chart");
  if (!figure || !window.vegaEmbed) { return; }
  var columns = JSON.parse(figure.dataset.columns || "[]");
  var rows = JSON.parse(figure.dataset.values || "[]");
  // the figure follows the group fields (in the ε-budget mode its interval's ends follow it)
  var at = Number(figure.dataset.figure || columns.length - 1);
  var two = at === 2;
  var view = document.getElementById("public-chart-view");
  var values = rows.filter(function (r) { return r[at] !== null; }).map(function (r) {
    return two ? { x: r[0], group: r[1], y: r[2] } : { x: r[0], y: r[1] };
  });
  var encoding = {
    y: { field: "x", type: "nominal", title: columns[0], sort: null },
    x: { field: "y", type: "quantitative", title: columns[at] },
    tooltip: [{ field: "x", title: columns[0] }, { field: "y", title: columns[at] }]
  };
  if (two) {
    // on a phone the legend goes under the bars, so they keep the width
    encoding.color = { field: "group", type: "nominal", title: columns[1],
                       legend: { orient: view.clientWidth < 480 ? "bottom" : "right" } };
    encoding.yOffset = { field: "group" };
    encoding.tooltip.splice(1, 0, { field: "group", title: columns[1] });
  }
  window.vegaEmbed(view, {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    data: { values: values }, mark: "bar", encoding: encoding,
    // bars by category grow in height (a step per bar), so only the width is fitted to the page
    width: Math.max(200, view.clientWidth - 160), autosize: { type: "pad" }
  }, // The page's CSP forbids inline styles: vega-embed must not inject its default <style>, nor
  // vega-tooltip its own (kaifang.css carries the tooltip's rules).
  { actions: false, renderer: "svg", ast: true, expr: window.vega.expressionInterpreter, defaultStyle: false,
    tooltip: { disableDefaultStyle: true } }).catch(function () {});
})();
