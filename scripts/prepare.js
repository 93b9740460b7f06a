#!/usr/bin/env node
// `npm ci` runs this (the `prepare` script). With the dev dependencies it builds (tsc is
// incremental, so a current dist/ costs a second). A production install (`npm ci --omit=dev`)
// has no TypeScript: it keeps a dist/ that is current and says how to build one that is not.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

function hasTypeScript() {
  try {
    require.resolve('typescript/bin/tsc', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

/** the newest source (TypeScript, Thrift bindings, JSON schemas) newer than its output, or null */
function staleSource() {
  const config = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
  const dirs = [...new Set(config.include.map((p) => p.split('/')[0]))];
  const walk = function* (dir) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) yield* walk(p);
      else yield p;
    }
  };
  for (const d of dirs) {
    if (!fs.existsSync(path.join(root, d))) continue;
    for (const src of walk(path.join(root, d))) {
      const rel = path.relative(root, src);
      let out;
      if (rel.endsWith('.d.ts')) continue;
      else if (rel.endsWith('.ts')) out = rel.replace(/\.ts$/, '.js');
      // what copy-assets.js copies
      else if ((path.dirname(rel) === 'conf' && rel.endsWith('.json')) || (path.dirname(rel) === path.join('extension', 'gen') && rel.endsWith('.js')))
        out = rel;
      else continue;
      const built = path.join(dist, out);
      if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(src).mtimeMs) return rel;
    }
  }
  return null;
}

if (hasTypeScript()) {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  require('./copy-assets.js');
} else {
  const stale = fs.existsSync(dist) ? staleSource() : 'dist/';
  if (stale) {
    console.error(
      `anomaly.ext: dist/ is missing or older than ${stale}, and TypeScript is not installed (a production install). Build first where the dev dependencies are: npm ci && npm run build, then npm ci --omit=dev.`,
    );
    process.exit(1);
  }
  console.error('anomaly.ext: dist/ is current; production install without a build');
}
