#!/usr/bin/env node
// The build compiles only TypeScript (transpile.js); the committed Thrift bindings (plain JS) and the JSON
// schemas have to sit beside the compiled code that loads them.
// Usage: node scripts/copy-assets.js [outDir]   (default dist)
// The builds of stale.js call copyAssets(): the command line is then build-if-stale.js's own
// (`--product`), not an output folder.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

function copyAssets(out = path.join(root, 'dist')) {
  // what is copied, and what is stale or an orphan, are one list (stale.js COPIED)
  const { COPIED, orphans } = require('./stale.js');
  for (const { from, ending } of COPIED) {
    const src = path.join(root, from);
    if (!fs.existsSync(src)) continue;
    fs.mkdirSync(path.join(out, from), { recursive: true });
    for (const f of fs.readdirSync(src)) {
      if (f.endsWith(ending)) fs.copyFileSync(path.join(src, f), path.join(out, from, f));
    }
  }

  // outputs whose source is gone (stale.js)
  for (const orphan of orphans(out)) fs.rmSync(orphan);

  // the config schema's validator (config-validator.js), a .cjs: no source of its name, it is not
  // a compiled file that lost its source (stale.js orphans)
  const configSchema = path.join(out, 'conf', 'anomaly.schema.json');
  if (fs.existsSync(configSchema)) require('./config-validator.js').writeConfigValidator(configSchema, path.join(out, 'conf', 'anomaly.schema.validate.cjs'));
  // and the state files' (state/schemas.ts, transpiled before this runs)
  if (fs.existsSync(path.join(out, 'state', 'schemas.js'))) require('./config-validator.js').writeStateValidators(path.join(out, 'state'));
}

module.exports = { copyAssets };

if (require.main === module) copyAssets(path.resolve(root, process.argv[2] || 'dist'));
