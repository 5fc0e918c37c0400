// Writes portal/static/vendor/LICENSE-codemirror: the licence text of every package bundled into
// codemirror.min.js (all MIT), each under its name and version. Run after `npm run build`.
const fs = require("fs");
const path = require("path");
const lock = require("./package-lock.json");
const parts = ["Licences of the npm packages bundled into codemirror.min.js (built by scripts/vendor-codemirror).\n"];
for (const key of Object.keys(lock.packages).sort()) {
  if (!key.startsWith("node_modules/") || key.includes("esbuild")) { continue; }
  const dir = path.join(__dirname, key);
  const meta = require(path.join(dir, "package.json"));
  const file = fs.readdirSync(dir).find((name) => /^licen[cs]e/i.test(name));
  parts.push(`\n==== ${meta.name} ${meta.version} (${meta.license}) ====\n\n` +
             (file ? fs.readFileSync(path.join(dir, file), "utf8").trim() + "\n" : "(no licence file in the package)\n"));
}
fs.writeFileSync(path.join(__dirname, "../../portal/static/vendor/LICENSE-codemirror"), parts.join(""));
