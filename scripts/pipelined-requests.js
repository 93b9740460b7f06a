/* global setInterval, __filename */
// Measures what the extension server holds for peers that send a request ahead of the answer
// before it, never reading it (docs/hardening.md, branch attack4). Needs the build (dist/).
//   node scripts/pipelined-requests.js [peers=48] [line MB=15]
// The server runs in a child with the default limits and --expose-gc; each peer asks for a
// 2 MB SELECT, leaves it unread, and sends a result line behind it. Prints the child's peak
// and resident growth, and its heap once collected (what is really held).
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
      process.send({ heapMB: process.memoryUsage().heapUsed >> 20, connections: srv.connections });
    });
  });
  setInterval(() => {}, 1000);
} else {
  const { callBytes, connect, send } = require(path.join(dist, 'test/helpers/raw.js'));
  const peers = Number(process.argv[2] || 48);
  const lineBytes = Number(process.argv[3] || 15) * 2 ** 20;
  const sock = path.join(fs.mkdtempSync('/tmp/pipelined-'), 's');
  const child = cp.fork(__filename, ['--server', sock], { execArgv: ['--expose-gc'] });
  const kb = (f) => Number(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8').match(new RegExp(`${f}:\\s+(\\d+)`))[1]);
  child.once('message', async () => {
    const base = kb('VmRSS');
    const select = callBytes('table', 'wide', { action: 'generate', context: '{}' });
    const line = callBytes('logger', 'anomaly', { string: 'x'.repeat(lineBytes), category: 'event' });
    const held = [];
    for (let k = 0; k < peers; k++) {
      const s = await connect(sock);
      s.on('error', () => {});
      s.pause();
      held.push(s);
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
        `${peers} peers, ${lineBytes >> 20} MB lines: peak +${peak} MB, resident +${now} MB; after GC heap ${m.heapMB} MB, ${m.connections} connections open`,
      );
      held.forEach((s) => s.destroy());
      child.kill();
    });
  });
}
