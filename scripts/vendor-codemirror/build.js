// Bundles entry.js into portal/static/vendor/codemirror.min.js (one IIFE, minified).
//
// One patch, applied here at build time to style-mod (CodeMirror's CSS-in-JS): it injects its
// rules through a <style> element whenever the editor lives in a document (it uses constructed
// stylesheets only inside shadow roots), and the site's CSP (style-src 'self', no nonces;
// docs/decisions/0010c) blocks such elements. The patch makes it use a constructed stylesheet
// (document.adoptedStyleSheets, which the CSP does not govern) wherever the browser has one,
// and keep the <style> element only as the fallback. See docs/decisions/0021b.
const esbuild = require("esbuild");
const fs = require("fs");

const ORIGINAL = "if (!root.head && root.adoptedStyleSheets && win.CSSStyleSheet) {";
const PATCHED = "if (root.adoptedStyleSheets && win.CSSStyleSheet) {";

const adoptedSheets = {
  name: "style-mod-adopted-sheets",
  setup(build) {
    build.onLoad({ filter: /style-mod[\\/]src[\\/]style-mod\.js$/ }, (args) => {
      const source = fs.readFileSync(args.path, "utf8");
      if (!source.includes(ORIGINAL)) {
        throw new Error("style-mod changed: the adopted-stylesheet patch no longer applies; review build.js");
      }
      return { contents: source.replace(ORIGINAL, PATCHED), loader: "js" };
    });
  }
};

esbuild.build({
  entryPoints: ["entry.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2019",
  legalComments: "none",
  outfile: "../../portal/static/vendor/codemirror.min.js",
  plugins: [adoptedSheets]
}).catch(() => process.exit(1));
