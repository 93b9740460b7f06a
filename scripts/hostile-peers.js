/* global setInterval, __filename */
// Measures what the extension server holds for hostile peers (docs/hardening.md, branch
// attack4). Needs the build (dist/).
//   node scripts/hostile-peers.js pipelined [peers=48] [MB=15]
//     each peer asks for a 2 MB SELECT, leaves it unread, and sends a result line behind it
//   node scripts/hostile-peers.js long-name [peers=48] [MB=15]
//     each peer sends a message in the non-strict form naming a method of MB, but its last byte
// The server runs in a child with the default limits and --expose-gc. Prints the child's peak
// and resident growth, its heap and external memory once collected (what is really held),
// and the connections it still has open.
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');

if (process.argv[2] === '--server') {
  const { startServer } = require(path.join(dist, 'extension/server.js'));
  const logger = { registry: 'logger', name: 'anomaly', routes: () => [], call: () => ({ code: 0 }) };
  const rows = () => Array.from({ length: 2000 }, (_, i) => ({ i: String(i), pad: 'y'.repeat(1000) }));
  const table = { registry: 'table', name: 'wide', routes: () => [], call: () => ({ code: 0, rows: rows() }) };
  startServer({ path: process.argv[3], plugins: [logger, table], onShutdown: () => {}, log: () => {} }).then((srv) => {
    process.send('up');
    process.on('message', () => {
      global.gc();
      const m = process.memoryUsage();
      process.send({ heapMB: m.heapUsed >> 20, externalMB: m.external >> 20, connections: srv.connections });
    });
  });
  setInterval(() => {}, 1000);
} else {
  const { callBytes, connect, send } = require(path.join(dist, 'test/helpers/raw.js'));
  const mode = process.argv[2];
  if (mode !== 'pipelined' && mode !== 'long-name') throw new Error('usage: node scripts/hostile-peers.js pipelined|long-name [peers] [MB]');
  const peers = Number(process.argv[3] || 48);
  const lineBytes = Number(process.argv[4] || 15) * 2 ** 20;
  const sock = path.join(fs.mkdtempSync('/tmp/pipelined-'), 's');
  const child = cp.fork(__filename, ['--server', sock], { execArgv: ['--expose-gc'] });
  const kb = (f) => Number(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8').match(new RegExp(`${f}:\\s+(\\d+)`))[1]);
  child.once('message', async () => {
    const base = kb('VmRSS');
    const select = callBytes('table', 'wide', { action: 'generate', context: '{}' });
    const line = callBytes('logger', 'anomaly', { string: 'x'.repeat(lineBytes), category: 'event' });
    const name = Buffer.alloc(lineBytes + 3, 0x61);
    name.writeInt32BE(lineBytes, 0);
    const held = [];
    for (let k = 0; k < peers; k++) {
      const s = await connect(sock);
      s.on('error', () => {});
      s.pause();
      held.push(s);
      if (mode === 'long-name') {
        await send(s, name).catch(() => {});
        continue;
      }
      await send(s, select);
      // the server answers the SELECT and reads on; a round trip would do, a pause is enough here
      await new Promise((r) => setTimeout(r, 100));
      await send(s, line).catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 2000));
    const peak = (kb('VmHWM') - base) >> 10;
    const now = (kb('VmRSS') - base) >> 10;
    child.send('gc');
    child.once('message', (m) => {
      console.log(
        `${mode}: ${peers} peers, ${lineBytes >> 20} MB each: peak +${peak} MB, resident +${now} MB; after GC heap ${m.heapMB} MB, external ${m.externalMB} MB, ${m.connections} connections open`,
      );
      held.forEach((s) => s.destroy());
      child.kill();
    });
  });
}
