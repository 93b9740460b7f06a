// Preloaded into a test suite's run, records each test file's CPU: what the suite's total
// cannot say and one file alone under /usr/bin/time costs a second run of the suite to learn.
//   NODE_OPTIONS="--require $PWD/scripts/test-cpu.js" TEST_CPU_LOG=/tmp/cpu.log npx tap --disable-coverage dist/test/*.test.js
// At a test file's exit it appends `file user system wall` (seconds) to TEST_CPU_LOG: user and
// system from /proc/self/stat, the process's own and its waited-for children's (utime + cutime,
// stime + cstime: the CLI's runs, the emulator's extensions), so Linux only. Other node
// processes that inherit NODE_OPTIONS load it too and record nothing.
'use strict';
const fs = require('fs');
const path = require('path');

const file = process.argv[1] ?? '';
const log = process.env.TEST_CPU_LOG;
// (the kernel's clock ticks: 100 a second on every Linux node runs on)
const HZ = 100;
if (log && file.endsWith('.test.js')) {
  const start = Date.now();
  process.on('exit', () => {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // fields from the 3rd on, after the command's name in parentheses (which may hold spaces)
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]];
    const s = (ticks) => (ticks / HZ).toFixed(2);
    fs.appendFileSync(log, `${path.basename(file)} ${s(utime + cutime)} ${s(stime + cstime)} ${((Date.now() - start) / 1000).toFixed(1)}\n`);
  });
}
