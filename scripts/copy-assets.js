#!/usr/bin/env node
// tsc compiles only TypeScript; the committed Thrift bindings (plain JS) and the JSON
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
