#!/usr/bin/env node
// How long anomaly.ext takes to exit after SIGTERM while its scorer works through a backlog,
// paced or not (docs/hardening.md, branch newcomer4). osqueryd's systemd unit kills the whole
// cgroup 15 s after SIGTERM (TimeoutStopSec=15). Usage, after the build:
//   node scripts/sigterm-paced.js [CPU_PERCENT]   (5 on 2 cores: half of the unit's 0.2 CPU quota)
// It logs 1,100 process rows of one user through the osqueryd emulator, waits until the
// scored count stands still for 3 s with lines queued (a batch under way), sends SIGTERM and
// prints how long the extension took to exit. Wall time on a shared machine: compare runs.
'use strict';
const path = require('path');
const { emulated } = require(path.join(__dirname, '..', 'dist', 'test', 'helpers', 'emulated'));
const pct = process.argv[2];
(async () => {
  const e = await emulated({
    config: {
      learning: { min_events: 1000, min_days: 0 },
      models: { rarity: true, ocsvm: true, lstm: true },
      ...(pct ? { budget: { cpu_percent: Number(pct) } } : {}),
    },
  });
  const child = await e.launch();
  const tools = ['git', 'vim', 'make', 'gcc', 'ls', 'cat', 'grep', 'ssh', 'less', 'python3'];
  for (let i = 0; i < 1100; i++) {
    const tool = `/usr/bin/${tools[(i * 7) % 10]}`;
    await e.emu.logResult(
      'anomaly',
      JSON.stringify({
        name: 'pack_user-behavior_process_events',
        hostIdentifier: 'h',
        unixTime: 1_790_000_000 + i * 60,
        columns: { pid: String(1000 + i), path: tool, cmdline: `${tool} x${i % 5}`, auid: '1000', parent: '1' },
        action: 'added',
      }),
    );
  }
  // a batch is under way when the scored count stands still with lines queued
  let last = -1,
    since = Date.now();
  for (;;) {
    const [m] = await e.emu.query("SELECT scored, queued FROM anomaly_models WHERE subject = '*'");
    const scored = Number(m ? m.scored : 0);
    if (scored !== last) {
      last = scored;
      since = Date.now();
    } else if (Number(m.queued) > 0 && Date.now() - since > 3000) break;
    if (scored >= 1100) {
      console.log('drained before a long batch was seen');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(JSON.stringify(await e.emu.query("SELECT scored, queued FROM anomaly_models WHERE subject = '*'")));
  const t0 = Date.now();
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  child.kill('SIGTERM');
  const timeout = new Promise((r) => setTimeout(() => r('still running after 60 s'), 60_000));
  const r = await Promise.race([exited, timeout]);
  console.log(`budget ${pct || 'none'}: after SIGTERM ${JSON.stringify(r)} in ${Date.now() - t0} ms`);
  child.kill('SIGKILL');
  await e.close().catch(() => {});
  process.exit(0);
})();
