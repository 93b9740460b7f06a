#!/usr/bin/env node
// `npm run demo` builds first, and a build of an unchanged tree still costs a few seconds of
// a one-minute demo (transpile.js transpiles every source again). This runs the build
// (transpile.js, then copy-assets.js, as `npm run build`) unless dist/.built is newer than
// every source, tsconfig.json, package.json and the build's own scripts (stale.js
// buildInputs): every build of stale.js stamps it with the time it started, this script's and
// npm ci's (prepare.js). (The outputs' own times cannot
// say that a build is current: `npx tsc` does not rewrite an output whose source was saved
// unchanged.)
'use strict';
const fs = require('fs');
const path = require('path');
const { sources, orphans, buildInputs, build, root, stamp } = require('./stale.js');

function changed() {
  if (!fs.existsSync(stamp)) return 'no build stamped yet';
  const built = fs.statSync(stamp).mtimeMs;
  for (const rel of [...buildInputs(), ...Array.from(sources(), (s) => s.rel)]) if (fs.statSync(path.join(root, rel)).mtimeMs > built) return rel;
  // a source deleted changes no other's time, and its output would still run (a test removed)
  for (const orphan of orphans()) return `${path.relative(root, orphan)}, whose source is gone`;
  return null;
}

const why = changed();
if (why === null) {
  process.stderr.write('dist/ is current: nothing to build\n');
} else {
  build(why);
}
