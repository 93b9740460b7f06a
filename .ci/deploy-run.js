#!/usr/bin/env node
// After .ci/deploy-check.sh ran the README's deploy commands under ROOT: check the installed
// launcher as osqueryd's autoloader does, then let the osqueryd emulator autoload it with
// the environment of the systemd drop-in (and nothing else of ours: no ANOMALY_DIST, a
// systemd-like PATH), log the jumpvm fixture through it and wait until every line is scored.
// Usage: node .ci/deploy-run.js ROOT
'use strict';
const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '..');
const root = process.argv[2];
const { OsquerydEmulator } = require(path.join(repo, 'dist', 'emulator'));
const { checkExtensionFile } = require(path.join(repo, 'dist', 'emulator', 'launcher'));

function fail(msg) {
  console.error(`deploy check: ${msg}`);
  process.exit(1);
}

async function main() {
  const load = fs
    .readFileSync(path.join(root, 'etc/osquery/extensions.load'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (load.length !== 1) fail(`extensions.load should list one extension, not ${load.length}`);
  const ext = path.join(root, load[0]);
  const problem = checkExtensionFile(ext);
  if (problem) fail(`osqueryd would refuse it: ${problem}`);
  const st = fs.statSync(ext);
  if (st.uid !== 0) fail(`${ext} is owned by uid ${st.uid}, not root`);
  console.log(`autoload checks pass: ${load[0]} (.ext, root-owned, mode ${(st.mode & 0o7777).toString(8)}, directory without sticky bit)`);

  const dropIn = fs.readFileSync(path.join(root, 'etc/systemd/system/osqueryd.service.d/anomaly.conf'), 'utf8');
  const env = {};
  for (const m of dropIn.matchAll(/^Environment=(\w+)=(.*)$/gm)) env[m[1]] = m[2];
  if (!env.ANOMALY_NODE || !env.ANOMALY_CONFIG) fail('the drop-in should set ANOMALY_NODE and ANOMALY_CONFIG');
  for (const k of Object.keys(process.env)) if (k.startsWith('ANOMALY_')) delete process.env[k];
  process.env.PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
  // the example config's state_dir is /var/osquery/anomaly; keep the test inside its root
  env.ANOMALY_STATE_DIR = path.join(root, 'var/osquery/anomaly');

  const emu = new OsquerydEmulator({
    dir: path.join(root, 'var/osquery'),
    interval: 2,
    timeout: 20,
    hostIdentifier: 'jumpvm',
    users: [{ uid: '1000', username: 'johndoe' }],
  });
  await emu.start();
  try {
    emu.launch(ext, { env });
    await emu.waitFor('anomaly', 60_000);
    await emu.startLogger('anomaly');
    const r = await emu.replay('anomaly', path.join(repo, 'test/fixtures/osquery/jumpvm.results.log'));
    if (r.failed) fail(`the logger answered ${r.failed} result lines with an error`);
    for (let i = 0; ; i++) {
      const [c] = await emu.query("SELECT received, accepted, rejected, queued, scored, dropped, set_aside FROM anomaly_models WHERE subject = '*'");
      if (c && c.queued === '0' && Number(c.accepted) + Number(c.rejected) === r.lines) {
        // lines with no rows to score (an empty snapshot, a removed-only diff) are counted
        // rejected, not lost; nothing may be dropped or set aside, and every accepted line is scored
        if (Number(c.received) !== r.lines) fail(`received ${c.received} of ${r.lines} lines`);
        if (c.dropped !== '0' || c.set_aside !== '0') fail(`lines lost: ${JSON.stringify(c)}`);
        if (Number(c.accepted) === 0 || c.scored !== c.accepted) fail(`accepted lines not all scored: ${JSON.stringify(c)}`);
        console.log(
          `the installed extension scored ${c.scored} of ${r.lines} result lines, ${c.rejected} without rows to score (state in ${env.ANOMALY_STATE_DIR})`,
        );
        break;
      }
      if (i > 600) fail(`lines still queued after 5 minutes: ${JSON.stringify(c)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    if (!fs.existsSync(path.join(env.ANOMALY_STATE_DIR, 'subjects'))) fail('no state written where ANOMALY_STATE_DIR points');
    if (emu.catastrophic) fail(`osqueryd would have shut down: ${emu.catastrophic}`);
  } finally {
    await emu.shutdown(5000);
  }
}

main().catch((err) => fail(err.stack || String(err)));
