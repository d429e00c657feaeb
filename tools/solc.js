#!/usr/bin/env node
// A native-solc look-alike around the official WebAssembly build (npm `solc`).
// No native solc can be downloaded on our machines, but py-solc-x, ape-solidity
// and forge only need `--version` and `--standard-json` from the executable.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);
const version = solc.version(); // e.g. 0.8.28+commit.7893614a.Emscripten.clang

if (args.includes("--version") || args.includes("-v")) {
  process.stdout.write(
    "solc, the solidity compiler commandline interface\nVersion: " +
      version.replace("Emscripten.clang", "Linux.g++") + "\n");
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("this solc wrapper supports only --version and --standard-json\n");
  process.exit(2);
}

// Import roots: --base-path, --include-path and --allow-paths as native solc takes them.
const roots = [process.cwd()];
for (let i = 0; i < args.length; i++) {
  const flag = args[i];
  if (flag === "--base-path" || flag === "--include-path") roots.push(args[++i]);
  else if (flag === "--allow-paths") roots.push(...args[++i].split(","));
}
roots.push(path.join(__dirname, "..", "node_modules"));

function findImport(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : roots.map((root) => path.resolve(root, importPath));
  for (const candidate of candidates) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: "File not found: " + importPath };
}

const input = fs.readFileSync(0, "utf8");
const output = solc.compile(input, { import: findImport });
process.stdout.write(output);
