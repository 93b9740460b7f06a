#!/usr/bin/env node
// The cost of the alert answers' accounts tier (extension/host-accounts.ts) on a host whose
// users table lists N accounts: each read's update (every 600 s) in CPU, the Set it keeps in
// heap, and a million lookups of subuid subjects (`uid:100000`…), what an answer that must rank
// asks once a subject (docs/hardening.md, branch revacct). uids start at 10,000, so with N past
// 90,000 some subuids are listed: what a host whose account uids overlap /etc/subuid would do.
//   node --expose-gc scripts/host-accounts-cost.js [N]     (after npm run build)
'use strict';
const path = require('path');
const { HostAccounts } = require(path.join(__dirname, '..', 'dist', 'extension', 'host-accounts'));

const N = Number(process.argv[2] || 50000);
const rows = Array.from({ length: N }, (_, i) => ({ uid: String(10000 + i), username: `user.name${i}@corp` }));
const gc = global.gc ?? (() => undefined);
gc();
const before = process.memoryUsage().heapUsed;
const accounts = new HostAccounts();
const cpu0 = process.cpuUsage();
for (let k = 0; k < 10; k++) accounts.update(rows);
const cpu = process.cpuUsage(cpu0);
gc();
const kept = process.memoryUsage().heapUsed - before;
let listed = 0;
const cpu1 = process.cpuUsage();
for (let i = 0; i < 1e6; i++) if (accounts.has(`uid:${100000 + (i % 65536)}`)) listed++;
const lookups = process.cpuUsage(cpu1);
const ms = (c) => (c.user + c.system) / 1000;
console.log(
  `N=${N}: update ${(ms(cpu) / 10).toFixed(1)} ms CPU each (10 runs), the Set ${(kept / 2 ** 20).toFixed(1)} MB of heap` +
    `${global.gc ? '' : ' (run with --expose-gc for this figure)'}, 1,000,000 lookups ${ms(lookups).toFixed(0)} ms CPU, ${listed} of them listed`,
);
