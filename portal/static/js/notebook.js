// The notebook session page: cells of analyst code in CodeMirror editors, run through the
// browser JSON routes of the sessions service, with their results rendered as tables and
// Vega-Lite charts, each released or suppressed figure marked with the rule that applied.
//
// Everything a run returns is hostile text written by analyst code (printed output, table
// cells, column names, chart titles, error messages): it reaches the page only through
// textContent, createTextNode, attributes set with setAttribute/title, and Vega's own text
// marks, never through innerHTML. The page's data arrives in data-* attributes (the CSP allows
// no inline script, docs/decisions/0010c).
(function () {
  "use strict";
  var root = document.getElementById("notebook");
  if (!root) { return; }
  var config = JSON.parse(root.dataset.config);
  var T = config.messages;  // English msgid -> text in the page's language
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var cellsBox = document.getElementById("nb-cells");
  var alertBox = document.getElementById("nb-alert");
  var layoutKey = "kaifang-notebook-" + config.session.id;
  var cells = [];  // {id, node, editor, runId, status}
  var nextCellId = 1;
  var session = config.session;

  function t(key) { return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function say(message, kind) {
    alertBox.textContent = message || "";
    alertBox.className = "nb-alert" + (message ? " nb-alert-" + (kind || "error") : "");
  }

  // ---- talking to the sessions service -------------------------------------------------------
  function api(method, url, body) {
    var options = { method: method, credentials: "same-origin",
                    headers: { "Accept": "application/json", "X-CSRFToken": csrf } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      var fresh = response.headers.get("X-CSRFToken");
      if (fresh) { csrf = fresh; }
      if (response.status === 204) { return null; }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var problem = new Error((data && (data.detail || data.title)) || (t("The server answered") + " " + response.status));
          problem.code = data && data.code;
          throw problem;
        }
        return data;
      });
    });
  }

  // A refusal in the page's language when the page knows its code, then the service's precise
  // (English) detail and the code.
  function problemText(error) {
    var known = error.code && Object.prototype.hasOwnProperty.call(T, "problem:" + error.code);
    return (known ? T["problem:" + error.code] + " — " : "") + error.message + (error.code ? " [" + error.code + "]" : "");
  }

  function refreshSession() {
    return api("GET", config.api.session).then(function (data) {
      session = data;
      showSession();
      return data;
    }).catch(function (error) { say(problemText(error)); });
  }

  function refreshCells() {
    return fetch(config.api.cells, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { showCellBudget(data); } })
      .catch(function () { /* the cell budget is informative only */ });
  }

  // ---- the session's header: status and budgets -------------------------------------------
  function showSession() {
    var status = document.getElementById("nb-status");
    status.textContent = t("status:" + session.status);
    status.className = "badge nb-status-" + session.status;
    var closed = session.status !== "open";
    root.classList.toggle("nb-closed", closed);
    document.getElementById("nb-expires").textContent = session.expires_at ? formatTime(session.expires_at) : "—";
    var b = session.budget || {};
    setText("nb-budget-sessions", b.sessions_open + " / " + b.sessions_max);
    setText("nb-budget-cpu", fixed(b.cpu_seconds_left) + " s (" + t("of") + " " + fixed(b.cpu_seconds_daily) + " s)");
    Array.prototype.forEach.call(document.querySelectorAll(".nb-run, .nb-add, #nb-close"), function (button) {
      button.disabled = closed;
    });
  }

  // One line per conditional grant, its figure written once ("0.9 of 1"): ε in the ε-budget
  // mode, released cells in the statistical one; the row's label says which (both: each line does).
  function showCellBudget(data) {
    var list = document.getElementById("nb-budget-cells");
    var grants = data.grants || [];
    var modes = {};
    grants.forEach(function (g) { modes[g.mode === "dp" ? "dp" : "cells"] = true; });
    var mixed = modes.dp && modes.cells;
    setText("nb-budget-cells-label", t(mixed ? "budget:mixed" : modes.dp ? "budget:epsilon" : "budget:cells"));
    list.textContent = "";
    grants.forEach(function (g) {
      var dp = g.mode === "dp";
      // what is left today is also bounded by what is left of the grant's lifetime ε (or cells)
      var lifetime = dp ? g.epsilon_lifetime : g.cells_lifetime;
      var text = g.dataset + (mixed ? " (" + (dp ? "ε" : t("unit:cells")) + ")" : "") + ": " +
        amount("{left} of {total}", dp ? g.epsilon_left : g.cells_left, dp ? g.epsilon_daily : g.cells_daily) +
        (lifetime != null ? "; " + amount("{left} of {total} over the grant's life",
          dp ? g.epsilon_lifetime_left : g.cells_lifetime_left, lifetime) : "");
      list.appendChild(el("li", null, text));
    });
    if (!grants.length) { list.appendChild(el("li", null, t("No conditional dataset: no cell budget applies."))); }
    setText("nb-budget-queries", data.queries_per_run);
  }

  function amount(key, left, total) {
    return t(key).replace("{left}", figure(left)).replace("{total}", figure(total));
  }

  // ε figures come as floats from sums of spends: no 0.30000000000000004
  function figure(value) {
    return typeof value === "number" ? String(Math.round(value * 1e6) / 1e6) : String(value);
  }

  // "1 query released", "2 queries released": the page's language's form for n
  function counted(prefix, n) {
    return t(prefix + (n === 1 ? "one" : "other")).replace("{n}", String(n));
  }

  function setText(id, text) { var node = document.getElementById(id); if (node) { node.textContent = text; } }
  function fixed(value) { return typeof value === "number" ? value.toFixed(1) : "—"; }
  function formatTime(iso) {
    var d = new Date(/[Zz]|[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");  // the server's times are UTC
    return isNaN(d.getTime()) ? iso : d.toLocaleString(document.documentElement.lang || undefined);
  }

  // ---- cells ---------------------------------------------------------------------------------
  function saveLayout() {
    try {
      localStorage.setItem(layoutKey, JSON.stringify(cells.map(function (c) {
        return { code: c.editor.getValue(), run: c.runId };
      })));
    } catch (e) { /* private mode: the runs themselves are still saved by the server */ }
  }

  function loadLayout() {
    try { return JSON.parse(localStorage.getItem(layoutKey) || "null"); } catch (e) { return null; }
  }

  function addCell(code, runId, after) {
    var id = nextCellId++;
    var node = el("section", "nb-cell");
    node.setAttribute("aria-label", t("Cell") + " " + id);
    var head = el("div", "nb-cell-head");
    var label = el("span", "nb-cell-label", "[" + id + "]");
    var run = el("button", "button nb-run", t("Run"));
    run.type = "button";
    run.title = t("Run (Ctrl+Enter)");
    var remove = el("button", "link-button nb-delete", t("Delete cell"));
    remove.type = "button";
    var state = el("span", "nb-cell-state");
    state.setAttribute("role", "status");
    head.appendChild(label); head.appendChild(run); head.appendChild(state); head.appendChild(remove);
    var editorBox = el("div", "nb-editor");
    var output = el("div", "nb-output");
    node.appendChild(head); node.appendChild(editorBox); node.appendChild(output);
    if (after && after.node.nextSibling) { cellsBox.insertBefore(node, after.node.nextSibling); }
    else { cellsBox.appendChild(node); }
    var cell = { id: id, node: node, runId: runId || null, output: output, state: state, runButton: run };
    cell.editor = window.KaifangEditor.create(editorBox, {
      doc: code || "", words: config.words, label: t("Code of cell") + " " + id,
      placeholder: t("Python: dataset(\"...\").group_by(...).agg(count()) — Ctrl+Enter runs the cell"),
      onRun: function () { runCell(cell); },
      onChange: saveLayoutSoon
    });
    run.addEventListener("click", function () { runCell(cell); });
    remove.addEventListener("click", function () { deleteCell(cell); });
    var index = after ? cells.indexOf(after) + 1 : cells.length;
    cells.splice(index, 0, cell);
    node.dataset.cell = String(id);
    saveLayout();
    return cell;
  }

  var saveTimer = null;
  function saveLayoutSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveLayout, 400);
  }

  // A cell that ran is deleted on the server (DELETE /notebook/api/runs/<id>), so every browser
  // and the .py export leave it out; a draft that never ran lives in this browser only.
  function deleteCell(cell) {
    if (cell.busy) { say(t("problem:run-pending")); return; }
    if (!cell.runId) { removeCell(cell); return; }
    if (!window.confirm(t("Delete this cell? It leaves the session in every browser and the export; its run stays in the stewards' audit log."))) { return; }
    api("DELETE", runUrl(cell.runId)).then(function () { removeCell(cell); })
      .catch(function (error) { say(problemText(error)); });
  }

  function removeCell(cell) {
    cell.editor.destroy();
    cell.node.remove();
    cells.splice(cells.indexOf(cell), 1);
    saveLayout();
    if (!cells.length) { addCell("", null); }
  }

  function runUrl(runId) { return config.api.run.replace("RUN_ID", encodeURIComponent(runId)); }

  function setState(cell, status, text) {
    cell.node.dataset.state = status;
    cell.state.textContent = text;
  }

  function runCell(cell) {
    if (session.status !== "open" || cell.busy) { return; }
    var code = cell.editor.getValue();
    if (!code.trim()) { return; }
    cell.busy = true;
    cell.runButton.disabled = true;
    setState(cell, "queued", t("queued"));
    say("");
    api("POST", config.api.runs, { code: code }).then(function (run) {
      cell.runId = run.id;
      saveLayout();
      return waitFor(cell, run);
    }).then(function (run) {
      showRun(cell, run);
    }).catch(function (error) {
      setState(cell, "error", t("not run"));
      cell.output.textContent = "";
      cell.output.appendChild(el("p", "nb-message nb-message-error", problemText(error)));
    }).then(function () {
      cell.busy = false;
      cell.runButton.disabled = session.status !== "open";
      refreshSession();
      refreshCells();
      var index = cells.indexOf(cell);
      if (index === cells.length - 1) { addCell("", null, cell).editor.focus(); }
    });
  }

  function waitFor(cell, run) {
    if (run.status === "done" || run.status === "error") { return Promise.resolve(run); }
    setState(cell, run.status, t(run.status));
    return api("GET", runUrl(run.id) + "?wait=10")
      .then(function (next) { return waitFor(cell, next); });
  }

  // ---- results -------------------------------------------------------------------------------
  function showRun(cell, run) {
    var result = run.result;
    cell.output.textContent = "";
    if (!result) {
      setState(cell, "error", t("failed"));
      cell.output.appendChild(el("p", "nb-message nb-message-error", t("The run failed before it produced a result.")));
      return;
    }
    var ok = run.status === "done" && result.status === "ok";
    setState(cell, ok ? "done" : "error", run.status === "error" ? t("not run") : t("result:" + result.status));
    // A cell that could not run: the server's sentence in the page's language, then its precise
    // English reason (`text`) and the code; older stored results have only the English message.
    if (run.status === "error" && result.code) {
      result = Object.assign({}, result, { message: result.text !== undefined
        ? result.message + " — " + result.text + " [" + result.code + "]"
        : problemText({ message: result.message || "", code: result.code }) });
    }
    var rules = rulesOf(result);
    var message = el("p", "nb-message " + (ok ? "nb-message-ok" : "nb-message-error"), t(result.message));
    cell.output.appendChild(message);
    if (result.error) {
      var where = result.error.line ? " (" + t("line") + " " + result.error.line + ")" : "";
      cell.output.appendChild(el("pre", "nb-error", result.error.type + where + ": " + result.error.message));
    }
    if (result.stdout) { cell.output.appendChild(el("pre", "nb-stdout", result.stdout)); }
    (result.outputs || []).forEach(function (output) {
      if (output.kind === "table") { cell.output.appendChild(table(output, rules)); }
      else if (output.kind === "chart") { cell.output.appendChild(chart(output, rules)); }
      else if (output.kind === "text") { cell.output.appendChild(el("pre", "nb-text", output.text)); }
    });
    (result.refused || []).forEach(function (refusal) {
      cell.output.appendChild(el("p", "nb-refused",
        t("Query") + " " + refusal.query + " " + t("refused") + " (" + refusal.rule + "): " +
        (refusal.message ? refusal.message + " — " : "") + refusal.reason));
    });
    (result.epsilon || []).forEach(function (e) {
      cell.output.appendChild(el("p", "nb-epsilon", e.dataset + ": ε " + e.spent_today + " / " + e.daily + " " + t("spent today") +
        (e.lifetime != null ? "; ε " + e.spent_lifetime + " / " + e.lifetime + " " + t("spent over the grant's life") : "")));
    });
    if (rules.notes.length) { cell.output.appendChild(footnotes(rules)); }
    if (result.variables && result.variables.length) {
      cell.output.appendChild(el("p", "nb-variables", t("Variables for the next cells:") + " " + result.variables.join(", ")));
    }
    if (result.usage) {
      cell.output.appendChild(el("p", "nb-usage", t("CPU") + " " + result.usage.cpu_seconds.toFixed(3) + " s · " +
        t("wall clock") + " " + result.usage.wall_seconds.toFixed(3) + " s · " +
        counted("released:", (result.released || []).length) + " · " +
        t("{n} refused").replace("{n}", String((result.refused || []).length))));
    }
  }

  // A broker note as the page shows it: the message in the page's language (the server adds it
  // from the note's stable code) and the code; notes stored before they had codes are text.
  function noteText(note) {
    if (typeof note === "string") { return note; }
    return (note.message || note.text || "") + (note.code ? " [" + note.code + "]" : "");
  }

  // The rules that applied to this run's releases from conditional data, numbered once per run.
  // The listing rule (`min-cell`: cells under about min_cell records are not listed, too few
  // contributors give null) is the one suppressed cells are marked with.
  function rulesOf(result) {
    var notes = [], suppression = null, conditional = false;
    (result.released || []).forEach(function (release) {
      var fromConditional = (release.datasets || []).some(function (slug) { return config.conditional.indexOf(slug) >= 0; });
      if (!fromConditional) { return; }
      conditional = true;
      (release.notes || []).forEach(function (note, index) {
        var text = noteText(note);
        if (notes.indexOf(text) < 0) { notes.push(text); }
        var listing = typeof note === "string" ? index === 0 : note.code === "min-cell";
        if (listing && suppression === null) { suppression = notes.indexOf(text) + 1; }
      });
    });
    return { notes: notes, suppression: suppression, conditional: conditional };
  }

  function marker(number) {
    var sup = el("sup", "nb-fn-ref", "[" + number + "]");
    return sup;
  }

  function footnotes(rules) {
    var box = el("div", "nb-footnotes");
    box.appendChild(el("p", "nb-footnotes-title", t("Disclosure control applied to this cell's results:")));
    var list = el("ol", null);
    rules.notes.forEach(function (note) { list.appendChild(el("li", null, note)); });
    box.appendChild(list);
    return box;
  }

  function formatValue(value) {
    if (typeof value === "number") {
      return Number.isInteger(value) ? value.toLocaleString() : value.toLocaleString(undefined, { maximumFractionDigits: 4 });
    }
    if (typeof value === "boolean") { return value ? "true" : "false"; }
    return String(value);
  }

  function table(output, rules) {
    var wrap = el("div", "nb-table-wrap");
    var grid = el("table", "nb-table");
    var caption = el("caption", null, output.total_rows + " " + t("rows") +
      (output.rows.length < output.total_rows ? " (" + t("first") + " " + output.rows.length + ")" : ""));
    if (rules.conditional) {
      caption.appendChild(document.createTextNode(" · " + t("released under the rules")));
      rules.notes.forEach(function (_, i) { caption.appendChild(marker(i + 1)); });
    }
    grid.appendChild(caption);
    var head = el("thead"), headRow = el("tr");
    output.columns.forEach(function (name) { headRow.appendChild(el("th", null, name)); });
    head.appendChild(headRow); grid.appendChild(head);
    var body = el("tbody");
    var releasedTitle = rules.notes.map(function (n, i) { return "[" + (i + 1) + "] " + n; }).join("\n");
    var suppressedNote = rules.suppression ? rules.notes[rules.suppression - 1] : "";
    output.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (value) {
        var td = el("td");
        if (value === null) {
          td.className = "nb-suppressed";
          td.appendChild(document.createTextNode(rules.conditional ? t("suppressed") : "null"));
          if (rules.conditional && rules.suppression) {
            td.title = t("Suppressed") + " — [" + rules.suppression + "] " + suppressedNote;
            td.appendChild(marker(rules.suppression));
          }
        } else {
          td.textContent = formatValue(value);
          if (typeof value === "number") { td.className = "nb-num"; }
          if (rules.conditional && typeof value === "number") {
            td.className += " nb-released";
            td.title = t("Released") + ":\n" + releasedTitle;
          }
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    grid.appendChild(body);
    wrap.appendChild(grid);
    var missing = rules.conditional ? missingGroups(output) : [];
    if (missing.length) {
      var note = el("p", "nb-missing");
      note.appendChild(document.createTextNode(t("Not listed (fewer than about the minimum of records, or none: by design the two look alike)") + " "));
      if (rules.suppression) { note.appendChild(marker(rules.suppression)); }
      note.appendChild(document.createTextNode(": " + missing.map(function (m) { return m.join(" · "); }).join(", ")));
      note.title = suppressedNote;
      wrap.appendChild(note);
    }
    return wrap;
  }

  // Groups of declared levels that the table does not list. The broker answers every possible
  // group of the declared levels and leaves out those under the minimum, so when the leading
  // columns are group keys with public levels, what is missing was suppressed (or empty).
  function missingGroups(output) {
    var keys = [];
    for (var i = 0; i < output.columns.length; i++) {
      var levels = config.levels[output.columns[i]];
      if (!levels) { break; }
      keys.push(levels);
    }
    if (!keys.length || output.total_rows > output.rows.length) { return []; }
    var size = keys.reduce(function (n, levels) { return n * levels.length; }, 1);
    if (size > 200 || output.rows.length >= size) { return []; }
    var seen = {};
    output.rows.forEach(function (row) { seen[JSON.stringify(row.slice(0, keys.length).map(String))] = true; });
    var combos = [[]];
    keys.forEach(function (levels) {
      var next = [];
      combos.forEach(function (c) { levels.forEach(function (l) { next.push(c.concat([String(l)])); }); });
      combos = next;
    });
    return combos.filter(function (c) { return !seen[JSON.stringify(c)]; });
  }

  function chart(output, rules) {
    var figure = el("figure", "nb-chart");
    var view = el("div", "nb-chart-view");
    figure.appendChild(view);
    var caption = el("figcaption", null, rules.conditional ? t("Chart of released values") : t("Chart"));
    if (rules.conditional) { rules.notes.forEach(function (_, i) { caption.appendChild(marker(i + 1)); }); }
    figure.appendChild(caption);
    var spec = Object.assign({}, output.spec, { width: "container", autosize: { type: "fit-x", contains: "padding" } });
    if (typeof vegaEmbed === "function") {
      vegaEmbed(view, spec, {
        actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter, defaultStyle: false,
        tooltip: { disableDefaultStyle: true }
      }).catch(function (error) { view.textContent = t("The chart could not be drawn") + ": " + error.message; });
    }
    return figure;
  }

  // ---- page wiring ---------------------------------------------------------------------------
  function restore() {
    var runs = {};
    (session.runs || []).forEach(function (run) { runs[run.id] = run; });
    var layout = loadLayout();
    var used = {};
    if (layout && layout.length) {
      layout.forEach(function (item) {
        if (item.run && !runs[item.run]) { return; }  // deleted, in this browser or another
        var cell = addCell(item.code, item.run || null);
        if (cell.runId) { used[cell.runId] = true; showStored(cell, runs[cell.runId]); }
      });
    }
    // Runs this browser does not know (another browser, the API): one cell each, in order.
    (session.runs || []).forEach(function (run) {
      if (used[run.id]) { return; }
      var cell = addCell(run.code, run.id);
      showStored(cell, run);
    });
    if (!cells.length || cells[cells.length - 1].runId) { addCell("", null); }
  }

  function showStored(cell, run) {
    if (run.status === "done" || run.status === "error") { showRun(cell, run); }
    else if (session.status === "open") { waitFor(cell, run).then(function (r) { showRun(cell, r); }); }
  }

  document.getElementById("nb-add").addEventListener("click", function () {
    addCell("", null).editor.focus();
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-example]"), function (button) {
    button.addEventListener("click", function () {
      var example = config.examples[Number(button.dataset.example)];
      var last = cells[cells.length - 1];
      var cell = last && !last.runId && !last.editor.getValue().trim() ? last : addCell("", null);
      cell.editor.setValue(example.code);
      cell.editor.focus();
      cell.node.scrollIntoView({ block: "center" });
      saveLayout();
    });
  });
  document.getElementById("nb-close").addEventListener("click", function () {
    if (!window.confirm(t("Close this session? Its cells stay saved and can be exported, but no more runs."))) { return; }
    api("DELETE", config.api.session).then(refreshSession).catch(function (error) { say(problemText(error)); });
  });

  restore();
  showSession();
  refreshCells();
}());
