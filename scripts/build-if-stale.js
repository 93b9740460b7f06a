#!/usr/bin/env node
// `npm run demo` builds first, and a build of an unchanged tree still costs tsc a few seconds
// of a one-minute demo (it starts, reads every source and checks its build info). This runs
// the build (tsc, then copy-assets.js, as `npm run build`) unless dist/.built, which it
// stamps with the time each build it ran started, is newer than every source, tsconfig.json
// and package.json. (tsc does not rewrite an output whose source was saved unchanged, so the
// outputs' own times cannot say that a build is current.)
'use strict';
const fs = require('fs');
const path = require('path');
const { sources, build, root, dist } = require('./stale.js');

const stamp = path.join(dist, '.built');

function changed() {
  if (!fs.existsSync(stamp)) return 'no build by this script yet';
  const built = fs.statSync(stamp).mtimeMs;
  for (const rel of ['tsconfig.json', 'package.json', ...Array.from(sources(), (s) => s.rel)])
    if (fs.statSync(path.join(root, rel)).mtimeMs > built) return rel;
  return null;
}

const why = changed();
if (why === null) {
  process.stderr.write('dist/ is current: nothing to build\n');
} else {
  const started = new Date();
  build();
  fs.writeFileSync(stamp, `${why}\n`);
  fs.utimesSync(stamp, started, started);
}
