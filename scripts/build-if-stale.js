#!/usr/bin/env node
// `npm run demo` builds first, and a build of an unchanged tree still costs a few seconds of
// a one-minute demo (transpile.js transpiles every source again). This runs the build
// (transpile.js, then copy-assets.js, as `npm run build`) unless dist/.built is newer than
// every source the demo runs, tsconfig.json and package.json: every build of stale.js stamps
// it with the time it started, this script's and npm ci's (prepare.js). (The outputs' own
// times cannot say that a build is current: `npx tsc` does not rewrite an output whose source
// was saved unchanged.) It builds only what the demo runs: the tests and the benchmarks, 45 %
// of the sources and 30-43 % of the build's CPU, are built by `npm run build`, which `npm test`,
// `npm run bench` and the tests' own instructions run first (docs/benchmarks.md, "The demo's
// CPU: the heap keeper after fits, the demo's build").
'use strict';
const fs = require('fs');
const path = require('path');
const { sources, build, root, stamp, NOT_RUN_BY_THE_DEMO } = require('./stale.js');

function changed() {
  if (!fs.existsSync(stamp)) return 'no build stamped yet';
  const built = fs.statSync(stamp).mtimeMs;
  const demoRuns = (rel) => !NOT_RUN_BY_THE_DEMO.includes(rel.split(path.sep)[0]);
  for (const rel of ['tsconfig.json', 'package.json', ...Array.from(sources(), (s) => s.rel).filter(demoRuns)])
    if (fs.statSync(path.join(root, rel)).mtimeMs > built) return rel;
  return null;
}

const why = changed();
if (why === null) {
  process.stderr.write('dist/ is current: nothing to build\n');
} else {
  build(why, NOT_RUN_BY_THE_DEMO);
}
