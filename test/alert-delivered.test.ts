import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { ExtensionClient } from '../extension/client';
import type { Plugin, Row } from '../extension/plugin/types';
import { startServer } from '../extension/server';
import { scoresTable } from '../extension/tables/scores';
import { ByteBudget, MessageReader, type Message } from '../extension/wire';
import type { ScoredEvent } from '../scorer/types';
import { ANSWERED_FILE } from '../state/answer-marks';
import type { AnswerShare, HeldBack } from '../state/answer-share';
import { RetainedScores } from '../state/scores';
import { badRequest, evesRow } from './helpers/alert-answer';
import { until } from './helpers/emulated';
import { callBytes, connect, statusOf } from './helpers/raw';

// The alert route's "answered" marks are set only for a reply osqueryd got (review F4): the
// server runs an answer's commit from the callback of the successful write of its reply, and
// a reply the socket closed under, before it was written or while it was, commits nothing.
// Each case is the alert pack's `bad` query as osqueryd sends it, through the extension's
// server; the client's socket is closed at a point the test chooses, not raced with a timer.

const NOW = 1_800_000_000;

/** eve's bad rows, distinct events, `pad` bytes of text in each row's event (the `bad` query reads it) */
const evesRows = (n: number, pad = 0): ScoredEvent[] =>
  Array.from({ length: n }, (_, i) =>
    evesRow(i, { id: `eve-${i}`, time: NOW - 3_600 + i, score: 0.05 + (i % 5) / 100, event: `exec /tmp/<tmp>/x ${'a'.repeat(pad)}${i} <- /bin/bash` }),
  );

/** a score store of `rows`, in a temporary directory removed at the test's end */
function storeOf(t: Test, rows: ScoredEvent[]): { store: RetainedScores; marks: () => number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-delivered-'));
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  t.teardown(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  store.append(rows);
  // the marks the store has made, as it keeps them across restarts (one float64 key each)
  const marks = () => {
    try {
      return fs.statSync(path.join(dir, ANSWERED_FILE)).size / 8;
    } catch {
      return 0;
    }
  };
  return { store, marks };
}

/**
 * anomaly_scores over `store` on a server of its own. `atEnd` runs as its answer's last row has
 * been taken (the store's generator has ended), before the server writes the reply; with
 * `awaited`, the server awaits each row and what `atEnd` returns. `counted` counts the
 * commits the server runs.
 */
async function serve(t: Test, store: RetainedScores, atEnd: () => void | Promise<void> = () => {}, awaited = false) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-delivered-sock-'));
  const socket = path.join(dir, 'ext.sock');
  const scores = scoresTable(store);
  const counted = { delivered: 0 };
  const plugin: Plugin = {
    ...scores,
    async call(request, oversize) {
      const res = await scores.call(request, oversize);
      const rows = res.rows as Iterable<Row>;
      const commit = res.delivered;
      return {
        ...res,
        rows: awaited
          ? (async function* () {
              yield* rows;
              await atEnd();
            })()
          : (function* () {
              yield* rows;
              void atEnd();
            })(),
        delivered: () => {
          counted.delivered++;
          commit?.();
        },
      };
    },
  };
  const s = await startServer({ path: socket, plugins: [plugin], onShutdown: () => {}, log: () => {} });
  t.teardown(async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { socket, server: s, counted };
}

/** the messages read from `socket` until `n` have come, and the bytes they took */
function replies(socket: net.Socket, n: number): Promise<{ messages: Message[]; bytes: number }> {
  return new Promise((resolve, reject) => {
    const messages: Message[] = [];
    let bytes = 0;
    const reader = new MessageReader({ maxString: 1 << 30, maxMessage: 1 << 30, shared: new ByteBudget(2 ** 40) }, (m) => {
      messages.push(m);
      if (messages.length === n) resolve({ messages, bytes });
    });
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      reader.push(d);
    });
    socket.on('close', () => reject(new Error(`connection closed after ${messages.length} replies`)));
  });
}

/** whether each event an answer of room for 10 rows holds back was answered before */
function heldAnswered(store: RetainedScores): boolean[] {
  const share: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000_000, rows: 10, perSubject: Infinity, rowBytes: () => 100 };
  const held = [...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].find((r): r is HeldBack<ScoredEvent> => 'held' in r);
  return (held?.told ?? []).map((e) => e.answered);
}

/**
 * a commit runs from a write's callback, at the latest in the event loop's turn after the
 * reply's last byte reached the kernel: a ping's round trip on a connection of its own takes
 * longer, so once it is back every commit of a reply read before it has run
 */
const settled = async (socket: string) => void (await new ExtensionClient(socket).ping());

t.test('a reply the socket closed under marks no row answered (review F4)', async (t) => {
  t.test('closed as the last row was taken: the write fails', async (t) => {
    const { store, marks } = storeOf(t, evesRows(30));
    let caller: net.Socket | null = null;
    // the caller's end closes as the server takes the last row; the server learns it only
    // when it writes the reply (EPIPE), as when osqueryd dies between the two
    const { socket, counted } = await serve(t, store, () => void caller?.destroy());
    caller = await connect(socket);
    const closed = new Promise((r) => caller!.on('close', r));
    caller.write(callBytes('table', 'anomaly_scores', badRequest(NOW)));
    await closed;
    await settled(socket);
    t.equal(marks(), 0, 'no mark written (answered.bin)');
    t.equal(counted.delivered, 0, 'no commit run');
    const held = heldAnswered(store);
    t.ok(held.length > 0 && held.every((a) => !a), `a cut answer takes them as never answered (${held.filter((a) => a).length} of ${held.length} answered)`);
  });

  t.test('closed before the reply was written: nothing is written', async (t) => {
    const { store, marks } = storeOf(t, evesRows(30));
    let caller: net.Socket | null = null;
    let server: { connections: number } | null = null;
    let ended!: () => void;
    const end = new Promise<void>((r) => (ended = r));
    // the rows end once the server has seen the caller leave
    const {
      socket,
      server: s,
      counted,
    } = await serve(
      t,
      store,
      async () => {
        caller?.destroy();
        await until(
          async () => server!.connections,
          (n) => n === 0,
        );
        ended();
      },
      true,
    );
    server = s;
    caller = await connect(socket);
    caller.write(callBytes('table', 'anomaly_scores', badRequest(NOW)));
    await end;
    await settled(socket);
    t.equal(marks(), 0, 'no mark written');
    t.equal(counted.delivered, 0, 'no commit run');
  });

  t.test('closed while a reply larger than the socket holds waited for its reader: the write fails', async (t) => {
    // rows of some 2.1 kB each (the event cut to 2 kB), 1,900 of them: 4 MB, more than the
    // kernel holds of a socket's unread bytes (its send buffer, net.core.wmem_default)
    const { store, marks } = storeOf(t, evesRows(1_900, 2_100));
    const { socket, counted } = await serve(t, store);
    const caller = await connect(socket);
    const begun = new Promise<void>((r) => caller.once('data', () => r()));
    caller.write(callBytes('table', 'anomaly_scores', badRequest(NOW)));
    await begun;
    // the reply is being written: the caller leaves with the rest of it unread
    caller.destroy();
    await settled(socket);
    t.equal(marks(), 0, 'no mark written');
    t.equal(counted.delivered, 0, 'no commit run');

    // the same reply read whole: it was larger than the socket could take at once, and marks every row
    const whole = await connect(socket);
    const read = replies(whole, 1);
    whole.write(callBytes('table', 'anomaly_scores', badRequest(NOW)));
    const { messages, bytes } = await read;
    whole.destroy();
    await settled(socket);
    const sendBuffer = Number(fs.readFileSync('/proc/sys/net/core/wmem_default', 'utf8'));
    t.ok(bytes > 4 * sendBuffer, `the reply (${bytes} bytes) is more than 4 times the socket's send buffer (${sendBuffer})`);
    t.equal(statusOf(messages[0]).rows.length, 1_900, 'every row sent');
    t.equal(marks(), 1_900, 'read whole, every row marked');
    t.equal(counted.delivered, 1, 'by one commit');
  });
});

t.test('a reply written whole marks its rows, one commit for each reply, pipelined or not (review F4)', async (t) => {
  const { store, marks } = storeOf(t, evesRows(30));
  const { socket, counted } = await serve(t, store);

  const res = await new ExtensionClient(socket).call('table', 'anomaly_scores', badRequest(NOW));
  t.equal(res.response.length, 30, 'osqueryd gets the 30 rows');
  await settled(socket);
  t.equal(marks(), 30, 'each marked');
  t.equal(counted.delivered, 1, 'by one commit');
  const held = heldAnswered(store);
  t.ok(held.length > 0 && held.every((a) => a), 'a cut answer takes them as answered before');

  // three requests sent at once on one connection: three replies, three commits
  const c = await connect(socket);
  const read = replies(c, 3);
  c.write(Buffer.concat([1, 2, 3].map((seq) => callBytes('table', 'anomaly_scores', badRequest(NOW), seq))));
  const { messages } = await read;
  c.destroy();
  await settled(socket);
  t.same(
    messages.map((m) => statusOf(m).rows.length),
    [30, 30, 30],
    'each reply whole',
  );
  t.equal(counted.delivered, 4, 'one commit for each');
  t.equal(marks(), 30, 'no row marked twice');
});

t.test('a commit run after its store closed writes nothing (f4)', async (t) => {
  // a reply delivered as the extension shuts down commits after the store closed; the store may
  // be open again by then (another instance of it), with the file of marks its own
  const { store, marks } = storeOf(t, evesRows(30));
  let commit: (() => void) | null = null;
  const share: AnswerShare = { bytes: 1 << 30, heldBytes: 1_000, rows: 1_000_000, perSubject: Infinity, rowBytes: () => 100, marks: (c) => (commit = c) };
  t.equal([...store.answer({ score: [{ op: '<', value: 0.3 }] }, share)].length, 30, 'an answer of the 30 rows');
  t.ok(commit, 'hands over its commit');
  store.close();
  commit!();
  t.equal(marks(), 0, 'no mark written after the close');
});

t.test('a reply refused or failed commits nothing; one written whole commits once (f4)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-delivered-refused-'));
  const socket = path.join(dir, 'ext.sock');
  const delivered: Record<string, number> = {};
  /** a table whose answer counts the commits the server runs */
  const table = (name: string, rows: () => Iterable<Row>): Plugin => ({
    registry: 'table',
    name,
    routes: () => [],
    call: () => ({ code: 0, rows: rows(), delivered: () => void (delivered[name] = (delivered[name] ?? 0) + 1) }),
  });
  const s = await startServer({
    path: socket,
    plugins: [
      table('whole', () => [{ a: '1' }, { a: '2' }]),
      // past the frame cap (maxReply): refused with a status, nothing of it sent
      table('too_large', function* () {
        for (let i = 0; i < 20_000; i++) yield { i: String(i), pad: 'p'.repeat(100) };
      }),
      table('throws', function* () {
        yield { a: '1' };
        throw new Error('disk gone');
      }),
      table('bad_row', () => [{ a: '1' }, { a: { nested: true } } as unknown as Row]),
    ],
    onShutdown: () => {},
    log: () => {},
    limits: { maxReply: 1 << 20 },
  });
  t.teardown(async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const client = new ExtensionClient(socket);
  for (const name of ['too_large', 'throws', 'bad_row']) t.equal((await client.call('table', name, { action: 'generate' })).status.code, 1, `${name}: refused`);
  t.same((await client.call('table', 'whole', { action: 'generate' })).response, [{ a: '1' }, { a: '2' }], 'whole: its rows');
  await settled(socket);
  t.same(delivered, { whole: 1 }, 'only the reply written whole committed, once');
});
