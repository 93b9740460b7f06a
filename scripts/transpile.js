#!/usr/bin/env node
// The build's compile step: every source of tsconfig.json's project to its outDir, one file
// at a time (TypeScript's transpileModule), without a type check. Running the code needs only
// its JavaScript, and a full `tsc` cost the demo's build 14–17 s of CPU on a fresh clone
// (docs/benchmarks.md). tsconfig.json sets isolatedModules, so `tsc --noEmit` (npm run
// typecheck, part of npm run lint and so of npm test) rejects whatever a per-file transpile
// could not compile as tsc would; the output is then tsc's own, file for file, maps included.
// Outputs whose source is gone are removed by copy-assets.js, which every build runs next.
// `skip` leaves out the sources under some top folders: the demo's build (build-if-stale.js)
// needs neither the tests nor the benchmarks, 45 % of the sources and 30-43 % of the build's CPU.
// Usage: node scripts/transpile.js [tsconfig.json]   (exit 1 on a syntax error, as tsc)
'use strict';
const fs = require('fs');
const path = require('path');

/**
 * Writes each source's .js (and .js.map with sourceMap) where tsc -p would, and returns the
 * number of syntax errors printed to stderr (the outputs are written all the same, as tsc does).
 * Sources in a top folder named in `skip` (relative to the config's folder) are left out.
 */
function transpile(configFile, skip = []) {
  const ts = require(require.resolve('typescript', { paths: [path.dirname(configFile)] }));
  const host = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail(ts, [d]) };
  const config = ts.getParsedCommandLineOfConfigFile(configFile, undefined, host);
  if (config.errors.length > 0) fail(ts, config.errors);
  const { options } = config;
  // transpileModule names the map's source and the output relative to these, as tsc does
  // only when both are given (else tsc takes the sources' common folder, which one file alone
  // cannot tell)
  if (!options.outDir || !options.rootDir) fail(ts, [], `${configFile}: the transpiling build needs compilerOptions.outDir and rootDir`);
  let errors = 0;
  for (const file of config.fileNames) {
    if (/\.d\.[cm]?ts$/.test(file)) continue;
    if (skip.includes(path.relative(path.dirname(configFile), file).split(path.sep)[0])) continue;
    const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file, reportDiagnostics: true });
    if (out.diagnostics.length > 0) {
      errors += out.diagnostics.length;
      report(ts, out.diagnostics);
    }
    const [js, map] = ts.getOutputFileNames(config, file, !ts.sys.useCaseSensitiveFileNames);
    fs.mkdirSync(path.dirname(js), { recursive: true });
    fs.writeFileSync(js, out.outputText);
    if (out.sourceMapText !== undefined) fs.writeFileSync(map, out.sourceMapText);
  }
  return errors;
}

function report(ts, diagnostics) {
  const host = { getCurrentDirectory: () => process.cwd(), getCanonicalFileName: (f) => f, getNewLine: () => '\n' };
  process.stderr.write(ts.formatDiagnostics(diagnostics, host));
}

function fail(ts, diagnostics, message) {
  report(ts, diagnostics);
  if (message) process.stderr.write(`${message}\n`);
  process.exit(1);
}

module.exports = { transpile };

if (require.main === module) {
  const errors = transpile(path.resolve(process.argv[2] || 'tsconfig.json'));
  if (errors > 0) process.exit(1);
}
