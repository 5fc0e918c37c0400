// Draws the dataset page's chart with Vega-Lite (vendored, no CDN). The server chooses the default
// chart from the data dictionary, aggregates to at most N marks and writes the title, the axis
// titles and the note in the page's language; this file only lays them out:
// - categories as horizontal bars when there are many or their labels are long (never rotated),
//   else vertical bars whose labels turn only when they would collide;
// - times on a UTC time axis (labels thinned by Vega's labelOverlap), bins as adjacent bars;
// - the note (what was grouped, bucketed, binned or sampled) once under the chart on screen (an
//   HTML caption: it wraps, translates and reads aloud), and as the subtitle of exported PNG/SVG
//   files, which must carry it on their own; never both on screen.
(function () {
  "use strict";
  var form = document.querySelector(".chart-form");
  if (!form) { return; }
  var view = document.getElementById("chart-view");
  var error = document.querySelector(".chart-error");
  var note = document.querySelector(".chart-note");
  var exportsBar = document.querySelector(".chart-exports");
  var csvLink = document.querySelector(".chart-csv");
  var messages = JSON.parse(form.dataset.messages || "{}");
  // The preview's filters in effect (as the server canonicalised them): the chart shows the same rows.
  var filters = new URLSearchParams(form.dataset.filters || "");
  var current = null;  // the Vega view of the chart on screen
  var shown = null;  // the chart.json answer it draws, for exports

  function textWidth(text, size) {  // a generous estimate: CJK glyphs are square, Latin ~0.6 em
    var em = size || 11, width = 0;
    String(text).split("").forEach(function (ch) { width += ch.charCodeAt(0) > 0x2e80 ? em : em * 0.6; });
    return width;
  }

  function lines(text, width, size) {  // wrap by words, and cut CJK runs (no spaces) by width
    var out = [], line = "";
    String(text).split(/(\s+)/).forEach(function (word) {
      if (line.trim() && textWidth(line + word, size) > width) { out.push(line.trim()); line = word.trim(); }
      else { line += word; }
    });
    if (line.trim()) { out.push(line.trim()); }
    return out.reduce(function (acc, l) {
      while (textWidth(l, size) > width && l.length > 1) {
        var cut = 1;
        while (cut < l.length - 1 && textWidth(l.slice(0, cut + 1), size) <= width) { cut += 1; }
        acc.push(l.slice(0, cut)); l = l.slice(cut);
      }
      acc.push(l); return acc;
    }, []);
  }

  function spec(data, withNote) {
    var width = Math.max(240, view.clientWidth - 24);
    var narrow = width < 480;
    var values = data.values;
    var base = {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: { text: lines(data.title, width - 8, 14), subtitle: withNote && data.note ? lines(data.note, width - 8, 11) : [],
               anchor: "start",
               fontSize: 14, subtitleFontSize: 11, subtitleColor: "#555" },
      data: { values: values },
      autosize: { type: "fit-x", contains: "padding" },
      width: width,
      config: { axis: { labelFontSize: 11, titleFontSize: 12 }, font: "sans-serif" }
    };
    var yTitle = lines(data.y.title, narrow ? 200 : 280, 12);
    var tipX = { field: "x", title: data.x.title };
    var tipY = { field: "y", type: "quantitative", title: data.y.title, format: ",.4~f" };
    var scale = data.x.scale;
    if (scale === "temporal") {
      var timeAxis = { title: data.x.title, format: data.x.format, labelAngle: 0,
                       labelOverlap: true, labelSeparation: 8 };
      tipX = { field: "x", type: "temporal", title: data.x.title, format: data.x.format };
      return Object.assign(base, {
        height: narrow ? 220 : 300,
        mark: { type: data.mark, tooltip: true, point: data.mark === "line" && values.length <= 60, strokeWidth: 1.5 },
        encoding: {
          x: { field: "x", type: "temporal", scale: { type: "utc" }, axis: timeAxis },
          y: { field: "y", type: "quantitative", title: yTitle, scale: { zero: false } },
          tooltip: [tipX, tipY]
        }
      });
    }
    if (scale === "quantitative") {
      return Object.assign(base, {
        height: narrow ? 220 : 280,
        mark: { type: "bar", tooltip: true, binSpacing: 1 },
        encoding: {
          x: { field: "x", type: "quantitative", title: data.x.title, axis: { labelAngle: 0, labelOverlap: true } },
          x2: { field: "x2" },
          y: { field: "y", type: "quantitative", title: yTitle, scale: { zero: true } },
          y2: { datum: 0 },
          tooltip: [{ field: "x", title: data.x.title }, { field: "x2", title: "–" }, tipY]
        }
      });
    }
    if (scale === "scatter") {
      return Object.assign(base, {
        height: narrow ? 260 : 320,
        mark: { type: "point", tooltip: true, opacity: 0.5, size: 16 },
        encoding: {
          x: { field: "x", type: "quantitative", title: data.x.title, scale: { zero: false } },
          y: { field: "y", type: "quantitative", title: yTitle, scale: { zero: false } },
          tooltip: [{ field: "x", type: "quantitative", title: data.x.title }, tipY]
        }
      });
    }
    // Categories: the server's order (largest first, "Others" last; ordinal codes in their order).
    var longest = values.reduce(function (m, v) { return Math.max(m, textWidth(v.x)); }, 0);
    var color = { condition: { test: "datum.others", value: "#9aa5b1" }, value: "#2f6fb0" };
    var kind = data.mark === "bar" ? "bar" : data.mark;
    var horizontal = scale === "nominal" && (values.length > (narrow ? 6 : 12) || longest > 90);
    if (horizontal) {
      return Object.assign(base, {
        autosize: { type: "pad" },
        height: { step: 20 },
        mark: { type: kind, tooltip: true },
        encoding: {
          y: { field: "x", type: "nominal", sort: null, title: data.x.title,
               axis: { labelLimit: narrow ? 110 : 220, labelAngle: 0 } },
          x: { field: "y", type: "quantitative", title: yTitle, axis: { labelOverlap: true } },
          color: color,
          tooltip: [tipX, tipY]
        }
      });
    }
    var band = width / Math.max(1, values.length);
    var collide = longest + 4 > band;  // rotate only when the labels would overlap
    return Object.assign(base, {
      height: narrow ? 220 : 280,
      mark: { type: kind, tooltip: true, point: kind === "line" },
      encoding: {
        x: { field: "x", type: "ordinal", sort: null, title: data.x.title,
             axis: { labelAngle: collide ? -45 : 0, labelOverlap: scale === "ordinal" ? "parity" : false,
                     labelLimit: collide ? 120 : 0 } },
        y: { field: "y", type: "quantitative", title: yTitle },
        color: kind === "bar" ? color : { value: "#2f6fb0" },
        tooltip: [tipX, tipY]
      }
    });
  }

  function fail(message) {
    if (current) { current.finalize(); current = null; }
    view.replaceChildren();
    note.hidden = true;
    exportsBar.hidden = true;
    error.textContent = message;
    error.hidden = false;
  }

  function sync(query) {
    ["x", "agg", "y"].forEach(function (name) {
      var select = form.elements[name];
      if (select) { select.value = query[name] === null ? "" : query[name]; }
    });
  }

  function draw(params) {
    error.hidden = true;
    filters.forEach(function (value, key) { params.set(key, value); });
    fetch(form.dataset.endpoint + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; },
                             function () { return { ok: false, body: {} }; });
      })
      .then(function (res) {
        if (!res.ok) { fail(messages[res.body.code] || messages["default"]); return null; }
        var data = res.body;
        sync(data.query);
        if (!data.values.length) { fail(messages.empty); return null; }
        var query = new URLSearchParams();  // a count has no y: "y=null" would name no column
        Object.keys(data.query).forEach(function (key) {
          if (data.query[key] !== null && data.query[key] !== "") { query.set(key, data.query[key]); }
        });
        csvLink.href = form.dataset.csv + "?" + query.toString();
        note.textContent = data.note;
        note.hidden = !data.note;
        // The page's CSP forbids eval: Vega evaluates expressions with its interpreter, and
        // vega-embed must not inject its default <style> element.
        return vegaEmbed(view, spec(data), {
          actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter, defaultStyle: false,
          tooltip: { disableDefaultStyle: true }
        }).then(function (result) {
          if (current) { current.finalize(); }
          current = result.view;
          shown = data;
          exportsBar.hidden = false;
          view.setAttribute("aria-label", data.title + ". " + data.note);
        });
      })
      .catch(function () { fail(messages.network); });
  }

  function submitted(event) {
    event.preventDefault();
    var params = new URLSearchParams();  // draw() adds the preview's filters
    ["x", "agg", "y", "kind"].forEach(function (name) {
      var value = form.elements[name].value;
      if (value) { params.set(name, value); }
    });
    var agg = params.get("agg") || "count";
    if (agg === "count" && params.get("kind") !== "point") { params.delete("y"); }
    if (agg !== "count" && !params.get("y")) { fail(messages["missing-measure"]); return; }
    draw(params);
  }

  function exported() {  // the chart on screen with its note as subtitle, drawn off screen
    var compiled = vegaLite.compile(spec(shown, true)).spec;
    return new vega.View(vega.parse(compiled, null, { ast: true }),
                         { expr: vega.expressionInterpreter, renderer: "none" });
  }

  function save(format) {
    if (!current || !shown) { return; }
    var image = exported();
    image.toImageURL(format, format === "png" ? 2 : 1).then(function (url) {
      image.finalize();
      var link = document.createElement("a");
      link.href = url;
      link.download = form.dataset.slug + "-chart." + format;
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  }

  form.addEventListener("submit", submitted);
  exportsBar.querySelectorAll("button[data-export]").forEach(function (button) {
    button.addEventListener("click", function () { save(button.dataset.export); });
  });
  window.addEventListener("load", function () { draw(new URLSearchParams()); });
})();
