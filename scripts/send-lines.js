#!/usr/bin/env node
// node scripts/send-lines.js LOG SOCKET UNIXTIME N... (newcomer5, docs/scoring.md "Feedback and
// learning"): send lines N... (1-based) of the results log LOG again to a running extension's
// logger, as osqueryd would log them, the first at UNIXTIME and the others as far after it as
// they were after the first in LOG. SOCKET is osqueryd's extensions socket (the demo's
// `D/osquery/osquery.em`) or the extension's own, as `anomaly status --socket` takes it. What a
// row scores now, after a label or a retraining, is then
// `SELECT … FROM anomaly_scores WHERE time >= UNIXTIME` at the demo's `osquery>` prompt.
// A pid is made new (90000 + N) so that the row is a new process, not the old one seen again.
'use strict';
const fs = require('fs');
const path = require('path');
const { ExtensionClient } = require(path.join(__dirname, '..', 'dist', 'extension', 'client.js'));
const { findExtensionSocket } = require(path.join(__dirname, '..', 'dist', 'cli', 'commands', 'remote.js'));

const [logFile, socket, at, ...picks] = process.argv.slice(2);
if (!logFile || !socket || !/^\d+$/.test(at ?? '') || !picks.length || picks.some((n) => !/^\d+$/.test(n))) {
  console.error('usage: node scripts/send-lines.js LOG SOCKET UNIXTIME N...');
  process.exit(64);
}
const lines = fs.readFileSync(logFile, 'utf8').split('\n');
const docs = picks.map((n) => {
  const line = lines[Number(n) - 1];
  if (!line) {
    console.error(`${logFile} has no line ${n}`);
    process.exit(65);
  }
  return { n, doc: JSON.parse(line) };
});
const first = docs[0].doc.unixTime;

(async () => {
  const client = new ExtensionClient(await findExtensionSocket(socket, 'status'), 10_000);
  for (const { n, doc } of docs) {
    const t = Number(at) + (doc.unixTime - first);
    doc.unixTime = t;
    doc.calendarTime = new Date(t * 1000).toUTCString();
    if (doc.columns) {
      if (doc.columns.time !== undefined) doc.columns.time = String(t);
      if (doc.columns.pid !== undefined) doc.columns.pid = String(90000 + Number(n));
    }
    const answer = await client.call('logger', 'anomaly', { string: JSON.stringify(doc) });
    console.log(`line ${n} sent at ${t} (${new Date(t * 1000).toISOString()}): ${answer.status.code === 0 ? 'accepted' : JSON.stringify(answer.status)}`);
  }
})().catch((err) => {
  console.error(err.message);
  process.exit(69);
});
