import * as fs from 'fs';
import type * as net from 'net';
import * as path from 'path';
import t from 'tap';
import { ExtensionClient } from '../extension/client';
import { ByteBudget, MessageReader, MessageWriter, MessageType, TType } from '../extension/wire';
import { RetainedScores } from '../state/scores';
import type { ScoredEvent } from '../scorer/types';
import { counters, emulated, exited, processLine as line, until, type Emulated } from './helpers/emulated';
import { plainRow } from './helpers/scored';
import { callBytes, connect, connectWaiting, nextReply, send, statusOf } from './helpers/raw';

// Issue 9, as an attacker would try it: every case here crashed, stalled or fooled the
// extension before it was hardened. Each runs through the emulated osqueryd against the real
// extension process; the checks are about behaviour (answered, alive, counted), never time.

/** retained rows seeded before the extension starts */
const ROWS = 100_000;
/** map entries of the dribbled request, and the size of its chunks */
const DRIBBLED_ENTRIES = 100_000;
const DRIBBLE_CHUNK = 2048;

/** the CPU clock ticks the process's main thread spent while `fn` ran; null without /proc */
async function mainThreadTicks(pid: number, fn: () => Promise<void>): Promise<number | null> {
  const ticks = () => {
    try {
      // fields after the command name: state is 3rd, utime 14th and stime 15th of the line
      const f = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    } catch {
      return null;
    }
  };
  const before = ticks();
  await fn();
  const after = ticks();
  return before === null || after === null ? null : after - before;
}

/** the process's peak resident memory from now on (VmHWM reset through clear_refs where allowed) */
function peakResident(pid: number): { grownKb(): number | null } {
  const field = (name: string): number | null => {
    try {
      const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  };
  let reset = true;
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    reset = false;
  }
  // without the reset the peak so far is the base: growth is then counted from the old peak
  const base = reset ? field('VmRSS') : field('VmHWM');
  return {
    grownKb: () => {
      const hwm = field('VmHWM');
      return base === null || hwm === null ? null : Math.max(0, hwm - base);
    },
  };
}

/** one connection that pings the extension, one ping at a time, without a time limit */
async function pingSocket(sock: string): Promise<{ ping(): Promise<number>; close(): void }> {
  const s = await connect(sock);
  const bytes = Buffer.concat(new MessageWriter().begin('ping', MessageType.CALL, 1).stop().finish());
  return {
    async ping() {
      const reply = nextReply(s);
      await send(s, bytes);
      const status = (await reply).args.get(0) as Map<number, unknown>;
      return status.get(1) as number;
    },
    close: () => s.destroy(),
  };
}

function extensionSocket(e: Emulated): string {
  return e.emu.registered()[0].socket;
}

// a loaded machine (load 8 on 2 cores) makes this file slow, never wrong: the limit is only
// for a hang, as package.json's tap timeout is (the waits in it have no deadlines)
t.setTimeout(3_600_000);

t.test('one extension against hostile clients', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  // item 2: a feedback file with lines that are JSON but not records
  fs.mkdirSync(e.stateDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(e.stateDir, 'feedback.jsonl'), '[1,2,3]\nnull\n{"id":"x-1","label":"normal","note":"ok","time":1790000000}\n{"id":7}\n');
  // item 6: many retained rows, so an unconstrained SELECT has a lot to read
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 3650 });
  const batch: ScoredEvent[] = [];
  for (let i = 0; i < ROWS; i++) {
    batch.push(plainRow(i, { time: 1_789_900_000 + i, subject: `u${i % 50}`, columns: JSON.stringify({ pad: 'x'.repeat(100), i }) }));
    if (batch.length === 20_000) store.append(batch.splice(0));
  }
  store.close();
  const child = await e.launch().catch((err) => {
    throw new Error(`${(err as Error).message}\n${e.stderr.join('')}`);
  });
  const sock = extensionSocket(e);

  await t.test('item 2: a wrong-shaped line in feedback.jsonl does not break SELECT', async (t) => {
    const rows = await e.emu.query('SELECT id, label FROM anomaly_feedback');
    t.same(rows, [{ id: 'x-1', label: 'normal' }], 'the one real record is listed');
    t.match(e.stderr.join(''), /feedback\.jsonl:1: skipped a line that is not a record/, 'the bad line is named');
  });

  await t.test('item 3: a result line of 100 MiB is answered 0 and counted rejected', async (t) => {
    const before = await counters(e);
    const s = await connect(sock);
    const size = 100 * 1024 * 1024;
    const head = new MessageWriter().begin('call', MessageType.CALL, 7);
    head.field(TType.STRING, 1).string('logger').field(TType.STRING, 2).string('anomaly');
    head.field(TType.MAP, 3).byte(TType.STRING).byte(TType.STRING).i32(2).string('category').string('event').string('string').i32(size);
    const reply = nextReply(s);
    await send(s, Buffer.concat(head.finish()));
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let sent = 0; sent < size; sent += chunk.length) await send(s, chunk);
    await send(s, Buffer.from([TType.STOP]));
    const m = await reply;
    s.destroy();
    t.equal(m.seqid, 7);
    t.equal(statusOf(m).code, 0, 'answered 0, as osqueryd needs');
    const after = await counters(e);
    t.equal(after.rejected - before.rejected, 1, 'counted rejected');
    t.equal(after.received - before.received, 1, 'and received');
  });

  await t.test('item 5: a large map dribbled in small chunks costs no more than sent whole, and pings get through meanwhile', async (t) => {
    // thrift's server re-parsed the whole message at every chunk: quadratic in the entries
    // read so far. The work is compared as the extension's own CPU time (main thread), the
    // same request sent whole against dribbled, in the same run: not a timing margin, and a
    // loaded machine slows both alike.
    const request: Record<string, string> = { string: line(1), category: 'event' };
    for (let i = 0; i < DRIBBLED_ENTRIES; i++) request[`k${i}`] = 'v';
    const bytes = callBytes('logger', 'anomaly', request, 9);
    const chunks = Math.ceil(bytes.length / DRIBBLE_CHUNK);
    const pinger = await pingSocket(sock);
    const whole = await mainThreadTicks(child.pid!, async () => {
      const s = await connect(sock);
      const reply = nextReply(s);
      await send(s, bytes);
      t.equal(statusOf(await reply).code, 0, 'sent whole: answered 0');
      s.destroy();
      // as many pings as the dribble below sends, so both runs do the same besides the chunks
      for (let i = 0; i < chunks; i++) await pinger.ping();
    });
    let pongs = 0;
    const dribbled = await mainThreadTicks(child.pid!, async () => {
      const s = await connect(sock);
      const reply = nextReply(s);
      // a ping after each chunk: the chunk is read before the next one comes, and the
      // event loop has to answer other connections while the message is half read
      for (let off = 0; off < bytes.length; off += DRIBBLE_CHUNK) {
        await send(s, bytes.subarray(off, off + DRIBBLE_CHUNK));
        if ((await pinger.ping()) === 0) pongs++;
      }
      t.equal(statusOf(await reply).code, 0, 'dribbled: answered 0');
      s.destroy();
    });
    pinger.close();
    t.equal(pongs, chunks, `all ${chunks} pings sent between the chunks were answered`);
    if (whole === null || dribbled === null) return void t.comment('no /proc/<pid>/task here: the work is not compared');
    t.ok(
      dribbled <= 3 * Math.max(whole, 10),
      `${DRIBBLED_ENTRIES} entries (${bytes.length} bytes) in ${chunks} chunks of ${DRIBBLE_CHUNK}: ${dribbled} CPU ticks dribbled, ${whole} sent whole`,
    );
  });

  await t.test('item 5: 2,000 idle connections neither exhaust descriptors nor stop the extension', async (t) => {
    const idle: net.Socket[] = [];
    let closed = 0;
    const waited = { total: 0 };
    for (let i = 0; i < 2000; i++) {
      const s = await connectWaiting(sock, waited);
      s.on('close', () => closed++);
      s.on('error', () => undefined);
      idle.push(s);
    }
    // the server keeps a bounded number and closes the idlest to make room
    await until(
      async () => closed,
      (n) => n >= 2000 - 64,
    );
    t.ok(closed >= 2000 - 64, `${closed} of 2000 idle connections were closed by the server`);
    if (waited.total > 0) t.comment(`the listen backlog was full at times: the flood waited ${waited.total} ms in all`);
    await e.emu.logResult('anomaly', line(2));
    t.equal((await new ExtensionClient(sock).ping()).code, 0, 'osqueryd calls still go through');
    for (const s of idle) s.destroy();
    t.equal(child.exitCode, null, 'the extension is still running');
  });

  await t.test('item 6: an unconstrained SELECT over many rows: pings answered while it is made, bounded memory', async (t) => {
    // read with the linear reader: thrift's own client would spend its time re-parsing
    const s = await connect(sock);
    const pinger = await pingSocket(sock);
    const peak = peakResident(child.pid!);
    const events: string[] = [];
    s.once('data', () => events.push('answer'));
    let done = false;
    const reply = nextReply(s).finally(() => (done = true));
    // the request, then a ping, leave in the same turn: the ping must be answered before the
    // answer's first byte, which a server that makes the whole answer in one turn cannot do
    const request = send(s, callBytes('table', 'anomaly_scores', { action: 'generate', context: '{"constraints":[]}' }));
    const first = pinger.ping().then((code) => events.push(`pong ${code}`));
    await request;
    await first;
    let sent = 1;
    let answered = 1;
    while (!done) {
      sent++;
      if ((await pinger.ping()) === 0) answered++;
    }
    const res = statusOf(await reply);
    const grown = peak.grownKb();
    s.destroy();
    pinger.close();
    t.equal(res.code, 0);
    // besides the seeded rows, the lines logged above may be scored by now
    const seeded = res.rows.filter((r) => r.query === 'q');
    t.equal(seeded.length, ROWS, 'every seeded row answered (well under the answer budget)');
    t.equal(seeded[0].id, `r-${ROWS - 1}`, 'newest first');
    t.equal(events[0], 'pong 0', `a ping sent with the SELECT is answered before the answer starts (${events.join(', ')})`);
    t.equal(answered, sent, `every ping while it ran was answered (${answered} of ${sent})`);
    // the answer itself is ~35 MB; the unbounded build held every row as objects and the
    // whole serialised answer at once (1 GB for these 100k rows, 4.9 GB for 500k)
    if (grown === null) t.comment('no /proc/<pid>/status here: memory not measured');
    else t.ok(grown < 160 * 1024, `resident memory grew ${Math.round(grown / 1024)} MB while answering ${ROWS} rows (bound 160 MB)`);
  });

  await t.test('item 7: an IN list of 200k values on time is answered', async (t) => {
    const list = Array.from({ length: 200_000 }, (_, i) => ({ op: 2, expr: String(1_789_900_000 + (i % 100)) }));
    const res = await new ExtensionClient(sock, 300_000).call('table', 'anomaly_scores', {
      action: 'generate',
      context: JSON.stringify({ constraints: [{ name: 'time', list, affinity: 'BIGINT' }] }),
    });
    t.equal(res.status.code, 0, `answered: ${res.status.message}`);
    t.equal(res.response.length, 100, 'the rows in the span of the list');
  });

  await t.test('item 13: status text cannot forge log lines; echoed values are cut; repeated errors are throttled', async (t) => {
    const forged = 'benign\n2026-01-01T00:00:00.000Z anomaly.ext[1] ERROR FORGED-LINE';
    await e.emu.callPlugin('logger', 'anomaly', { status: 'true', log: JSON.stringify([{ s: 1, f: 'x.cpp', i: 1, m: forged }]) });
    const name = 'n'.repeat(10_000);
    const unknown = await new ExtensionClient(sock).call('table', name, { action: 'generate' });
    t.equal(unknown.status.code, 1);
    t.ok(unknown.status.message.length < 1000, `the echoed name is cut (${unknown.status.message.length} chars)`);
    const started = Date.now();
    for (let i = 0; i < 50; i++) await new ExtensionClient(sock).call('table', 'anomaly_feedback', { action: 'insert', json_value_array: 'not json' });
    // the throttle says a kind of error once a minute: a loaded host that spreads the 50 calls
    // over more minutes sees one line per minute begun, never one per call
    const minutes = Math.ceil((Date.now() - started) / 60_000);
    await until(
      async () => e.stderr.join(''),
      (s) => s.includes('FORGED-LINE'),
    );
    const log = e.stderr.join('');
    t.notOk(
      log.split('\n').some((l) => l.startsWith('2026-01-01T00:00:00.000Z')),
      'no line of the log starts with the forged text',
    );
    t.ok(log.includes('benign\\n2026-01-01'), 'the newline shows escaped');
    const repeats = log.split('\n').filter((l) => l.includes('json_value_array is not a JSON array')).length;
    t.ok(repeats >= 1 && repeats <= minutes + 1, `50 identical errors logged ${repeats} time(s) over ${minutes} minute(s) begun`);
  });

  await t.test('item 14: feedback refuses a bad time and an oversized note, with a status', async (t) => {
    await e.emu.logResult('anomaly', line(3));
    const [row] = await until(
      () => e.emu.query("SELECT id FROM anomaly_scores WHERE query = 'pack_user-behavior_process_events'"),
      (r) => r.length > 0,
    );
    t.ok(row, 'a scored row to label');
    const insert = (values: unknown[]) =>
      new ExtensionClient(sock).call('table', 'anomaly_feedback', { action: 'insert', json_value_array: JSON.stringify(values) });
    // Number() reads hexadecimal, binary, exponents and blanks: '0x10' was kept as time 16
    for (const time of ['NaN', 'Infinity', '-5', '1.5', 'soon', '0x10', '0b11', ' 17', '1e3']) {
      const res = await insert([row.id, 'normal', 'n', time]);
      t.match(res.response[0], { status: 'failure', message: /time must be unixTime seconds/ }, `time ${time} refused`);
    }
    const big = await insert([row.id, 'normal', 'x'.repeat(1024 * 1024)]);
    t.match(big.response[0], { status: 'failure', message: /note of 1048576 bytes is over 4096/ }, 'a 1 MB note refused');
    const ok = await insert([row.id, 'normal', 'backup job', 1_790_000_100]);
    t.match(ok.response[0], { status: 'success' }, 'a sound label is kept');
    const rows = await e.emu.query('SELECT id, note, time FROM anomaly_feedback');
    t.same(
      rows.map((r) => r.note),
      ['ok', 'backup job'],
      'only the sound records are listed',
    );
  });

  await t.test('item 5: a manager that answers pings slowly is not taken for gone', async (t) => {
    e.emu.pingDelayMs = 8000; // longer than the extension's ping timeout
    let pings = 0;
    const count = () => pings++;
    e.emu.on('ping', count);
    await until(
      async () => pings,
      (n) => n >= 3,
    );
    e.emu.off('ping', count);
    e.emu.pingDelayMs = 0;
    t.ok(pings >= 3, `${pings} slow pings`);
    t.equal(child.exitCode, null, 'the extension did not exit');
    t.match(e.stderr.join(''), /not taken for a vanished osqueryd/, 'it says why it stays');
  });

  t.equal(child.exitCode, null, 'after all of it, the extension runs');

  await t.test('item 6: SIGTERM during a broad SELECT stops it at once: no rows sent, the extension exits', async (t) => {
    const s = await connect(sock);
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    const reply = nextReply(s).then(statusOf, (err: Error) => err.message);
    await send(s, callBytes('table', 'anomaly_scores', { action: 'generate', context: '{"constraints":[]}' }));
    child.kill('SIGTERM');
    const exit = await exited(child);
    const res = await reply;
    t.same(exit, { code: 0, signal: null }, 'it exits 0');
    // a server that makes the answer in one turn hears the signal only after every row is sent
    t.ok(received < 4096, `no rows were sent after SIGTERM (${received} bytes received)`);
    if (typeof res === 'string') t.pass(`the connection was closed: ${res}`);
    else t.match(res, { code: 1, rows: [], message: /shutting down/ }, 'the call is told the extension is shutting down, not given a part that looks whole');
  });
});

t.test('items 11 and 12: no links followed, explicit modes whatever the umask', async (t) => {
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const victim = path.join(e.dir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.mkdirSync(path.join(e.stateDir, 'queue'), { recursive: true, mode: 0o700 });
  fs.symlinkSync(victim, path.join(e.stateDir, 'queue', '00000001.log'));
  fs.symlinkSync(victim, path.join(e.stateDir, 'feedback.jsonl'));
  fs.symlinkSync(victim, path.join(e.stateDir, 'queue', 'cursor.json'));
  const child = await e.launch({ umask: 0 });
  for (let i = 0; i < 20; i++) await e.emu.logResult('anomaly', line(i));
  await until(
    () => counters(e),
    (c) => c.scored === 20,
  );
  const sock = extensionSocket(e);
  const mode = (p: string) => fs.statSync(p).mode & 0o777;
  t.equal(mode(sock), 0o600, 'the extension socket is 0600 under umask 0');
  for (const d of ['', 'queue', 'scores', 'subjects']) t.equal(mode(path.join(e.stateDir, d)), 0o700, `${d || 'the state directory'} is 0700`);
  const segments = fs.readdirSync(path.join(e.stateDir, 'queue')).filter((f) => f.endsWith('.log'));
  for (const f of segments) t.equal(mode(path.join(e.stateDir, 'queue', f)), 0o600, `queue/${f} is 0600`);
  t.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the file the links pointed at is untouched');
  const log = e.stderr.join('');
  t.match(log, /00000001\.log: cannot read a queue segment/, 'the planted segment link is reported');
  t.match(log, /cursor\.json: is a symbolic link/, 'so is the cursor link');
  t.match(log, /feedback\.jsonl: a symbolic link/, 'and the feedback link');
  t.equal(child.exitCode, null);
});

t.test('item 11: a state directory others can write to is refused', async (t) => {
  for (const [what, prepare] of [
    ['world-writable', (d: string) => fs.chmodSync(d, 0o777)],
    ['group-writable', (d: string) => fs.chmodSync(d, 0o770)],
    ['owned by another user', (d: string) => fs.chownSync(d, 4242, 4242)],
  ] as const) {
    const e = await emulated();
    fs.mkdirSync(e.stateDir, { mode: 0o700 });
    prepare(e.stateDir);
    const child = await e.launch({ wait: false });
    const exit = await exited(child);
    t.equal(exit?.code, 73, `${what}: refused with EX_CANTCREAT`);
    t.match(e.stderr.join(''), /state directory .* (writable by|owned by uid 4242)/, `${what}: and says why`);
    t.equal(e.emu.registered().length, 0, `${what}: nothing registered`);
    await e.close();
  }
});

t.test("the extension's log shows C1 controls and bidi overrides as escapes, as the CLI does", async (t) => {
  // osqueryd's status lines (and every echoed value) are written to stderr escaped: C0 and
  // U+2028/9 were, but NEL (U+0085), a line break to Python's splitlines and to some log
  // viewers, could still start a line that looks like the extension's own; CSI (U+009B) is
  // obeyed by xterm when the log is followed in a terminal; U+202E reverses what follows
  const e = await emulated();
  t.teardown(() => e.close());
  await e.launch();
  const forged = 'benign\u00852026-01-01T00:00:00.000Z anomaly.ext[1] ERROR FORGED-NEL \u009b2J \u202ecod.exe \u007f';
  await e.emu.callPlugin('logger', 'anomaly', { status: 'true', log: JSON.stringify([{ s: 1, f: 'x.cpp', i: 1, m: forged }]) });
  const log = await until(
    async () => e.stderr.join(''),
    (s) => s.includes('FORGED-NEL'),
  );
  t.notOk(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(log), 'no C1 control, DEL or bidi control in the log');
  t.ok(log.includes('benign\\u00852026-01-01'), 'NEL shows escaped');
  t.ok(log.includes('\\u009b2J'), 'CSI shows escaped');
});

t.test("clients that declare large strings and never send them do not make osqueryd's lines unreadable", async (t) => {
  // The server charges a string's declared length to a budget all connections share (128 MB)
  // when it reads the length, before the bytes come. Eight connections that each send the
  // first 60 bytes of a call declaring a 16 MiB result line, and then nothing (or a byte now
  // and then, so never idle), held nearly all of it, and a few smaller ones the rest: every
  // line osqueryd logged next was read past as over the server's read limit, answered 0 and
  // lost (counted rejected)
  const e = await emulated();
  t.teardown(() => e.close());
  await e.launch();
  const sock = extensionSocket(e);
  const stuck: net.Socket[] = [];
  t.teardown(() => stuck.forEach((s) => s.destroy()));
  // 16 MiB (the most one string may be) seven times, then 8 MiB, 4 MiB, … 1 byte: each takes
  // what is left of the budget or is read past, so nothing of it stays free
  const sizes = [...Array(7).fill(16 * 1024 * 1024), ...Array.from({ length: 24 }, (_, k) => 2 ** (23 - k))];
  for (const size of sizes) {
    const head = new MessageWriter().begin('call', MessageType.CALL, 1);
    head.field(TType.STRING, 1).string('logger').field(TType.STRING, 2).string('anomaly');
    head.field(TType.MAP, 3).byte(TType.STRING).byte(TType.STRING).i32(1).string('string').i32(size);
    const s = await connect(sock);
    await send(s, Buffer.concat([...head.finish(), Buffer.from(size > 8 ? '{"name":' : '')]));
    stuck.push(s);
  }
  // a round trip on a connection opened after them: their bytes have been read by then
  const pinger = await pingSocket(sock);
  // (a ping's method name is charged too: with the budget held, it was a protocol error and
  // the connection was dropped, which osqueryd's health check takes for a gone extension)
  t.equal(await pinger.ping().catch((err: Error) => err.message), 0, 'the extension answers pings');
  pinger.close();
  // (and so was every call's: osqueryd's logger calls failed, and it shuts itself down then)
  const logged = [];
  for (let i = 0; i < 5; i++)
    logged.push(
      await e.emu.logResult('anomaly', line(i)).then(
        () => 'ok',
        (err: Error) => err.message,
      ),
    );
  t.same(logged, ['ok', 'ok', 'ok', 'ok', 'ok'], 'every line osqueryd logs is answered');
  t.equal(e.emu.catastrophic, null, 'osqueryd would not shut itself down');
  const now = await counters(e).catch((err: Error) => err.message);
  t.match(now, { rejected: 0, accepted: 5 }, 'the five lines are accepted, none rejected');
});

t.test('requests sent one after another without reading the answers are answered one at a time', async (t) => {
  // osqueryd sends one request per connection and reads its answer; a client that writes many
  // at once had them all answered at once, every answer built in memory side by side and
  // queued for its reader: memory grew with the number of requests (20 of 13 MB: 338 MB;
  // one at a time: 65 MB for one, 93–100 MB for 5, 20 or 40)
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const rows = 30_000;
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 3650 });
  for (let i = 0; i < rows; i += 10_000)
    store.append(Array.from({ length: 10_000 }, (_, k) => plainRow(i + k, { columns: JSON.stringify({ pad: 'x'.repeat(200), i: i + k }) })));
  store.close();
  const child = await e.launch();
  const sock = extensionSocket(e);
  const s = await connect(sock);
  t.teardown(() => s.destroy());
  const requests = 48;
  const peak = peakResident(child.pid!);
  const replies: Array<{ code: number; rows: number; seqid: number }> = [];
  let answerBytes = 0;
  const all = new Promise<void>((resolve, reject) => {
    const reader = new MessageReader({ maxString: 1 << 30, maxMessage: 1 << 30, shared: new ByteBudget(2 ** 40) }, (m) => {
      const st = statusOf(m);
      replies.push({ code: st.code, rows: st.rows.length, seqid: m.seqid });
      answerBytes = Math.max(answerBytes, m.bytes);
      if (replies.length === requests) resolve();
    });
    s.on('data', (d: Buffer) => reader.push(d));
    s.on('close', () => reject(new Error(`closed after ${replies.length} replies`)));
  });
  const one = (seqid: number) => callBytes('table', 'anomaly_scores', { action: 'generate', context: '{"constraints":[]}' }, seqid);
  await send(s, Buffer.concat(Array.from({ length: requests }, (_, k) => one(k + 1))));
  await all;
  const grown = peak.grownKb();
  t.same(
    replies.map((r) => r.seqid),
    Array.from({ length: requests }, (_, k) => k + 1),
    'every request answered, in order',
  );
  t.ok(
    replies.every((r) => r.code === 0 && r.rows === rows),
    'each with every row',
  );
  if (grown === null) t.comment('no /proc/<pid>/status here: memory not measured');
  else
    t.ok(
      grown * 1024 < (requests / 4) * answerBytes,
      `resident memory grew ${Math.round(grown / 1024)} MB answering ${requests} requests of ${Math.round(answerBytes / 2 ** 20)} MB each (bound: a quarter of them)`,
    );
});

t.test(
  'many connections that each ask for a broad SELECT at once share one budget for answers: bounded memory, every one answered or refused clearly, pings answered meanwhile',
  async (t) => {
    // Each connection has one answer in flight at most (the test above), but up to 64 connections
    // may each have one, of up to 64 MB: 4 GB at worst, all built side by side (these 32 grew
    // resident memory by 491 MB). The answers in flight now share one budget of bytes; an
    // answer that finds it spent waits for others to be taken by their readers (one that must
    // give way is made again, and refused, saying why, only after several tries): 153 MB, all 32 whole
    const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
    t.teardown(() => e.close());
    const rows = 30_000;
    const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 3650 });
    for (let i = 0; i < rows; i += 10_000)
      store.append(Array.from({ length: 10_000 }, (_, k) => plainRow(i + k, { columns: JSON.stringify({ pad: 'x'.repeat(200), i: i + k }) })));
    store.close();
    const child = await e.launch();
    const sock = extensionSocket(e);
    const clients = 32;
    const sockets = await Promise.all(Array.from({ length: clients }, () => connectWaiting(sock)));
    t.teardown(() => sockets.forEach((s) => s.destroy()));
    const pinger = await pingSocket(sock);
    t.teardown(() => pinger.close());
    const peak = peakResident(child.pid!);
    const order: string[] = [];
    let answerBytes = 0;
    const replies = sockets.map((s, k) =>
      nextReply(s).then((m) => {
        answerBytes = Math.max(answerBytes, m.bytes);
        order.push(`answer ${k}`);
        return statusOf(m);
      }),
    );
    const request = callBytes('table', 'anomaly_scores', { action: 'generate', context: '{"constraints":[]}' });
    await Promise.all(sockets.map((s) => send(s, request)));
    // pings while the answers are made: each is answered, and the first before the last answer
    let pinged = 0;
    let ponged = 0;
    let all = false;
    const answers = Promise.all(replies).finally(() => (all = true));
    do {
      pinged++;
      if ((await pinger.ping()) === 0) ponged++;
      order.push('pong');
    } while (!all && pinged < 1000);
    const results = await answers;
    const grown = peak.grownKb();
    t.equal(ponged, pinged, `every ping answered (${ponged} of ${pinged})`);
    const before = order.indexOf('pong');
    t.ok(before < clients, `the first ping was answered with ${before} of ${clients} answers sent`);
    const whole = results.filter((r) => r.code === 0 && r.rows.length === rows).length;
    const refused = results.filter((r) => r.code === 1 && /answers in flight/.test(r.message));
    t.equal(
      whole + refused.length,
      clients,
      `each query has its whole answer (${whole}) or a clear refusal (${refused.length}): ${results.find((r) => r.code !== 0 || r.rows.length !== rows)?.message ?? ''}`,
    );
    t.ok(whole > 0, 'and some are answered');
    if (grown === null) t.comment('no /proc/<pid>/status here: memory not measured');
    else
      t.ok(
        grown * 1024 < 200 * 2 ** 20,
        `resident memory grew ${Math.round(grown / 1024)} MB answering ${clients} connections at once, ${Math.round(answerBytes / 2 ** 20)} MB each (bound: the watchdog's 200 MB)`,
      );
  },
);

t.test('a link where the retained windows go is set aside like any other, not a restart loop', async (t) => {
  // Every other state file found to be a link is moved aside and the extension goes on; a
  // link in place of window-scores/windows.jsonl made it exit 73 right after it registered,
  // at every start: osqueryd restarts it every few seconds, and each time the logger it had
  // just activated goes away, which makes osqueryd shut itself down at its next result line
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const victim = path.join(e.dir, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.mkdirSync(path.join(e.stateDir, 'window-scores'), { recursive: true, mode: 0o700 });
  fs.symlinkSync(victim, path.join(e.stateDir, 'window-scores', 'windows.jsonl'));
  const child = await e.launch();
  for (let i = 0; i < 5; i++) await e.emu.logResult('anomaly', line(i));
  await until(
    () => counters(e),
    (c) => c.scored === 5,
  );
  t.same(await e.emu.query('SELECT count(*) AS n FROM anomaly_windows'), [{ n: '0' }], 'anomaly_windows answers');
  t.equal(child.exitCode, null, 'the extension runs on');
  t.equal(e.emu.catastrophic, null, 'osqueryd logged every line');
  t.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the file the link pointed at is untouched');
  t.notOk(
    fs.lstatSync(path.join(e.stateDir, 'window-scores', 'windows.jsonl'), { throwIfNoEntry: false })?.isSymbolicLink(),
    'the link is gone from its place',
  );
  t.match(e.stderr.join(''), /windows\.jsonl: a symbolic link/, 'and the log says so');
});
