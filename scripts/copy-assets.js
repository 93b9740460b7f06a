#!/usr/bin/env node
// The build compiles only TypeScript (transpile.js); the committed Thrift bindings (plain JS) and the JSON
// schemas have to sit beside the compiled code that loads them.
// Usage: node scripts/copy-assets.js [outDir]   (default dist)
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = path.resolve(root, process.argv[2] || 'dist');
const copies = [
  { from: 'extension/gen', keep: (f) => f.endsWith('.js') },
  { from: 'conf', keep: (f) => f.endsWith('.json') },
];
for (const { from, keep } of copies) {
  const src = path.join(root, from);
  if (!fs.existsSync(src)) continue;
  fs.mkdirSync(path.join(out, from), { recursive: true });
  for (const f of fs.readdirSync(src)) {
    if (keep(f)) fs.copyFileSync(path.join(src, f), path.join(out, from, f));
  }
}

// A source deleted or renamed leaves its compiled file behind, and `npm test` runs every
// dist/test/*.test.js: a test removed from the tree still ran (and failed) from an earlier
// build. Outputs whose source is gone are removed.
const COMPILED = /\.(js|js\.map|d\.ts)$/;
function sweep(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      sweep(full);
      continue;
    }
    if (!entry.isFile() || !COMPILED.test(entry.name)) continue;
    const rel = path.relative(out, full).replace(COMPILED, '');
    const source = ['.ts', '.js'].some((ext) => fs.existsSync(path.join(root, rel + ext)));
    if (!source) fs.rmSync(full);
  }
}
for (const top of ['extension', 'state', 'scorer', 'emulator', 'cli', 'demo', 'report', 'conf', 'bench', 'test']) {
  if (fs.existsSync(path.join(out, top))) sweep(path.join(out, top));
}

// the config schema's validator (config-validator.js); after the sweep, which would take it for
// the output of a source that is gone
const configSchema = path.join(out, 'conf', 'anomaly.schema.json');
if (fs.existsSync(configSchema)) require('./config-validator.js').writeConfigValidator(configSchema, path.join(out, 'conf', 'anomaly.schema.validate.js'));
