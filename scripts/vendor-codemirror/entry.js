// The notebook's code editor: CodeMirror 6 with Python, the usual editing keys and a completion
// source for the sandbox's data API and the session's datasets and columns. Bundled by esbuild
// into one IIFE (portal/static/vendor/codemirror.min.js) that defines `window.KaifangEditor`;
// no eval, no inline script, so it runs under the site's CSP (docs/decisions/0010c).
import { basicSetup } from "codemirror";
import { EditorView, keymap, placeholder } from "@codemirror/view";
import { EditorState, Prec } from "@codemirror/state";
import { python, pythonLanguage } from "@codemirror/lang-python";
import { indentWithTab } from "@codemirror/commands";
import { syntaxTree } from "@codemirror/language";

// words: {functions: [{label, detail, info}], methods: [...], datasets: [{label, detail}],
//         columns: [{label, detail, info}]}
function dataApiSource(words) {
  var functions = (words.functions || []).map(function (w) { return Object.assign({ type: "function", boost: 2 }, w); });
  var methods = (words.methods || []).map(function (w) { return Object.assign({ type: "method" }, w); });
  var datasets = (words.datasets || []).map(function (w) { return Object.assign({ type: "constant" }, w); });
  var columns = (words.columns || []).map(function (w) { return Object.assign({ type: "property" }, w); });

  return function (context) {
    var node = syntaxTree(context.state).resolveInner(context.pos, -1);
    if (node.name === "String" || node.name === "FormatString") {
      // Inside a string: dataset slugs after `dataset(`, column names anywhere else.
      var text = context.state.sliceDoc(node.from, context.pos);
      var quote = text.match(/^[rRbBuUfF]*("""|'''|"|')/);
      if (!quote) { return null; }
      var from = node.from + quote[0].length;
      var before = context.state.sliceDoc(Math.max(0, node.from - 40), node.from);
      var options = /dataset\(\s*$/.test(before) ? datasets : columns;
      return { from: from, options: options, validFor: /^[\w\-\u00b7\u4e00-\u9fff]*$/ };
    }
    var member = context.matchBefore(/\.\w*$/);
    if (member) {
      return { from: member.from + 1, options: methods, validFor: /^\w*$/ };
    }
    var word = context.matchBefore(/\w+$/);
    if (!word && !context.explicit) { return null; }
    return { from: word ? word.from : context.pos, options: functions, validFor: /^\w*$/ };
  };
}

function create(parent, options) {
  options = options || {};
  var extensions = [
    basicSetup,
    python(),
    pythonLanguage.data.of({ autocomplete: dataApiSource(options.words || {}) }),
    Prec.highest(keymap.of([
      { key: "Mod-Enter", run: function () { if (options.onRun) { options.onRun(); } return true; } },
      { key: "Shift-Enter", run: function () { if (options.onRun) { options.onRun(); } return true; } }
    ])),
    keymap.of([indentWithTab]),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({ "aria-label": options.label || "code", translate: "no" }),
    EditorView.updateListener.of(function (update) {
      if (update.docChanged && options.onChange) { options.onChange(update.state.doc.toString()); }
    })
  ];
  if (options.placeholder) { extensions.push(placeholder(options.placeholder)); }
  var view = new EditorView({
    parent: parent,
    state: EditorState.create({ doc: options.doc || "", extensions: extensions })
  });
  return {
    view: view,
    getValue: function () { return view.state.doc.toString(); },
    setValue: function (text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    focus: function () { view.focus(); },
    destroy: function () { view.destroy(); }
  };
}

window.KaifangEditor = { create: create, version: "6" };
