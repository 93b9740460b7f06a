#!/usr/bin/env node
// thrift's `--gen js:node,ts` declares the classes of each .d.ts but exports none of them,
// so TypeScript cannot use them. Appending the export line the generator leaves out makes
// the typed clients and structs importable. Idempotent; run by `npm run gen:thrift`.
'use strict';
const fs = require('fs');
const path = require('path');

const dir = path.resolve(__dirname, '..', process.argv[2] || 'extension/gen');
const MARK = '// exports appended by scripts/export-thrift-types.js';
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.d.ts'))) {
  const file = path.join(dir, f);
  const text = fs.readFileSync(file, 'utf8');
  if (text.includes(MARK)) continue;
  const names = [...text.matchAll(/^declare (?:class|enum) (\w+)/gm)].map((m) => m[1]);
  if (names.length) fs.appendFileSync(file, `\n${MARK}\nexport { ${names.join(', ')} };\n`);
}
