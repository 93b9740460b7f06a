import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { ExtensionClient, type ExtensionStatus } from '../extension/client';
import { MessageType, MessageWriter, TType } from '../extension/wire';
import { until } from './helpers/emulated';
import { bareNode } from './helpers/bare-node';

// The client's timeout is for a peer that says nothing, never for an answer that is already
// there. A process that was starved (a loaded host) or busy wakes with the timer and the
// answer both due, and Node runs timers before it reads sockets: the client must read first.

/** a peer in its own process: it answers a ping when told to (file `go`), then says so (`replied`) */
const PEER = `
const net = require('net'), fs = require('fs');
const [sock, dir, hex] = process.argv.slice(1);
net.createServer((c) => {
  c.once('data', () => {
    fs.writeFileSync(dir + '/asked', '');
    const wait = setInterval(() => {
      if (!fs.existsSync(dir + '/go')) return;
      clearInterval(wait);
      c.write(Buffer.from(hex, 'hex'), () => fs.writeFileSync(dir + '/replied', ''));
    }, 5);
  });
  c.on('error', () => undefined);
}).listen(sock, () => process.stdout.write('ready\\n'));
// the test holds stdin open: when it ends, however it ends, so does the peer
process.stdin.resume().on('end', () => process.exit(0));
`;

const pong = Buffer.concat(
  new MessageWriter()
    .begin('ping', MessageType.REPLY, 1)
    .field(TType.STRUCT, 0)
    .field(TType.I32, 1)
    .i32(0)
    .field(TType.STRING, 2)
    .string('pong')
    .stop()
    .stop()
    .finish(),
).toString('hex');

t.test('an answer that arrived while the caller was busy past its timeout is taken', async (t) => {
  // the peer must have the call before the timeout for the case to arise; on a loaded host it
  // may not, and the attempt is made again with a longer timeout
  for (let attempt = 1, timeoutMs = 250; ; attempt++, timeoutMs *= 2) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-client-'));
    const sock = path.join(dir, 's');
    const peer = spawn(...bareNode(['-e', PEER, sock, dir, pong]), { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        peer.stdout!.once('data', () => resolve());
        peer.once('exit', (code) => reject(new Error(`the peer exited ${code}`)));
      });
      let settled = false;
      const started = Date.now();
      const reply: Promise<ExtensionStatus | Error> = new ExtensionClient(sock)
        .ping(timeoutMs)
        .catch((err: Error) => err)
        .finally(() => (settled = true));
      await until(
        async () => settled || fs.existsSync(path.join(dir, 'asked')),
        (v) => v,
      );
      if (settled) {
        t.comment(`attempt ${attempt}: the peer did not get the call within ${timeoutMs} ms (${String(await reply)})`);
        continue;
      }
      // the peer answers now, while this process is busy until the timeout is past. Busy in
      // the check phase (setImmediate), as after a socket read: the loop's next step is the
      // due timers, before it reads the answer (busy in a timer callback would not show it:
      // libuv compares timers with the time the turn began)
      fs.writeFileSync(path.join(dir, 'go'), '');
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          while (!fs.existsSync(path.join(dir, 'replied')) || Date.now() - started < timeoutMs + 50) {
            /* busy, as a starved or working process is */
          }
          resolve();
        }),
      );
      const res = await reply;
      t.notOk(res instanceof Error, `the answer is taken, not a timeout (${res instanceof Error ? res.message : res.message})`);
      t.equal((res as ExtensionStatus).code, 0);
      return;
    } finally {
      peer.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
