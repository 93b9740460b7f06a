import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { ExtensionClient } from '../extension/client';
import type { Plugin } from '../extension/plugin/types';
import { startServer } from '../extension/server';
import { scoresTable } from '../extension/tables/scores';
import { ALERT_QUERY, WARM_UP, warmUp } from '../extension/warm';
import { RetainedScores } from '../state/scores';
import { emulated, until } from './helpers/emulated';
import { fillScores } from './helpers/scored';

// The start-up rehearsal of the alert query (extension/warm.ts): it answers nothing and
// changes no answer, it stops where it is told to, and the server keeps answering pings and
// calls while it runs.

async function server(t: Test, plugins: Plugin[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-warm-'));
  const socket = path.join(dir, 'ext.sock');
  const logs: string[] = [];
  const s = await startServer({ path: socket, plugins, onShutdown: () => {}, log: (l, m) => logs.push(`${l} ${m}`) });
  t.teardown(async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, socket, logs, server: s, client: new ExtensionClient(socket) };
}

t.test('a rehearsal sends nothing, stops at maxRows, and leaves the answers as they were', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-warm-store-'));
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 3650 });
  t.teardown(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  fillScores(store, 3000);
  let closed = 0;
  const scores = scoresTable(store);
  // the same table, counting generators left early (their finally blocks must run)
  const counted: Plugin = {
    ...scores,
    async call(request, oversize) {
      const res = await scores.call(request, oversize);
      const rows = res.rows as Iterable<Record<string, string>>;
      return {
        ...res,
        rows: (function* () {
          try {
            yield* rows;
          } finally {
            closed++;
          }
        })(),
      };
    },
  };
  const { server: s, client } = await server(t, [counted]);
  const before = await client.call('table', 'anomaly_scores', ALERT_QUERY.request);
  t.equal(before.status.code, 0);
  t.equal(before.response.length, 300, 'the alert query answers the 300 rows scored 0.1');
  closed = 0;
  t.equal(await s.rehearse('table', 'anomaly_scores', ALERT_QUERY.request, 120), 120, 'a rehearsal writes at most maxRows rows');
  t.equal(closed, 1, 'and closes the generator it left');
  t.equal(await s.rehearse('table', 'anomaly_scores', ALERT_QUERY.request, Infinity), 300, 'without a cap, the whole answer');
  const result = await warmUp(s, [ALERT_QUERY], WARM_UP, () => {});
  t.equal(result.rehearsals, WARM_UP.rounds, 'every round rehearsed (the allowance is far from spent on 300 rows)');
  t.equal(result.rows, WARM_UP.rounds * 300);
  const after = await client.call('table', 'anomaly_scores', ALERT_QUERY.request);
  t.same(after, before, 'the answer after the warm-up is the answer before it');
  t.same(
    after.response.map((r) => r.id),
    store.select({ score: [{ op: '<', value: 0.3 }] }).map((e) => e.id),
    "the store's rows, newest first",
  );
});

/**
 * anomaly_scores with a million alert rows, made one at a time; `begin` resolves at the first,
 * and `produced` counts them. A call whose context is 'three' gets three rows instead.
 */
function millionRows() {
  const total = 1_000_000;
  const made = { total, produced: 0, begin: null as unknown as Promise<void> };
  let begun!: () => void;
  made.begin = new Promise<void>((r) => (begun = r));
  const plugin: Plugin = {
    registry: 'table',
    name: 'anomaly_scores',
    routes: () => [],
    call: (request) => ({
      code: 0,
      rows:
        request.context === 'three'
          ? [{ id: 'a' }, { id: 'b' }, { id: 'c' }]
          : (function* () {
              for (let i = 0; i < total; i++) {
                if (made.produced++ === 0) begun();
                yield { id: String(i), score: '0.1' };
              }
            })(),
    }),
  };
  return { plugin, made };
}

t.test('a ping is answered while a warm-up runs', async (t) => {
  const { plugin, made } = millionRows();
  const { total } = made;
  const { server: s, client } = await server(t, [plugin]);
  let settled = false;
  const warming = warmUp(s, [ALERT_QUERY], { rounds: 1, maxRows: Infinity, maxMs: Infinity }, () => {}).finally(() => (settled = true));
  // the ping is sent once the rehearsal has begun
  await made.begin;
  const pong = await client.ping();
  t.equal(pong.code, 0, 'the ping is answered');
  t.notOk(settled, 'before the warm-up ended');
  t.ok(made.produced < total, `the rehearsal had produced ${made.produced} of ${total} rows then`);
  const result = await warming;
  t.same(result.rehearsals, 1);
  t.equal(result.rows, total);
});

t.test('a table call from osqueryd ends a warm-up, and is answered whole', async (t) => {
  // the rehearsal's context asks for the alert rows; the test's own call for three rows
  const { plugin, made } = millionRows();
  const { total } = made;
  const { server: s, client, logs } = await server(t, [plugin]);
  const warming = warmUp(s, [ALERT_QUERY], { rounds: 5, maxRows: Infinity, maxMs: Infinity }, () => {});
  await made.begin;
  const res = await client.call('table', 'anomaly_scores', { action: 'generate', context: 'three' });
  t.same(res.response, [{ id: 'a' }, { id: 'b' }, { id: 'c' }], "osqueryd's call is answered whole");
  const result = await warming;
  t.equal(result.rehearsals, 0, 'the rehearsal under way gave way, and no other began');
  t.ok(made.produced < total, `it stopped at row ${made.produced} of ${total}`);
  t.equal(s.tableCalls, 1);
  t.same(logs, [], 'giving way is not reported as a problem');
});

t.test('the allowance is CPU time: a rehearsal that waits uses none of it, one that computes does', async (t) => {
  // On a loaded host the main thread waits for a core; counted in wall time, that wait spent
  // the allowance and cut the warm-up short (4 of 8 rounds at load 13 on 2 cores). Here each
  // call waits 450 ms (more than the 400 ms allowed) without computing: every round is rehearsed
  const slow: Plugin = {
    registry: 'table',
    name: 'anomaly_scores',
    routes: () => [],
    call: async () => {
      await new Promise((r) => setTimeout(r, 450));
      return { code: 0, rows: [{ id: '1' }, { id: '2' }] };
    },
  };
  const a = await server(t, [slow]);
  const waited = await warmUp(a.server, [ALERT_QUERY], { ...WARM_UP, rounds: 3 }, () => {});
  t.match(waited, { rehearsals: 3, rows: 6 }, 'waiting 1.35 s in all spent nothing of a 400 ms allowance');
  // and CPU spent does end it: a clock of 150 ms of CPU per call stops it after the third
  let cpu = 0;
  const costly: Plugin = { ...slow, call: () => ((cpu += 150), { code: 0, rows: [{ id: '1' }] }) };
  const b = await server(t, [costly]);
  const spent = await warmUp(
    b.server,
    [ALERT_QUERY],
    WARM_UP,
    () => {},
    () => cpu,
  );
  t.match(spent, { rehearsals: 3, ms: 450 }, `stops once ${WARM_UP.maxMs} ms of CPU are spent`);
});

t.test('nothing to rehearse: an empty table, a refused answer, a closed server', async (t) => {
  const empty: Plugin = { registry: 'table', name: 'anomaly_scores', routes: () => [], call: () => ({ code: 0, rows: [] }) };
  const a = await server(t, [empty]);
  t.match(await warmUp(a.server, [ALERT_QUERY], WARM_UP, () => {}), { rehearsals: 0, rows: 0 }, 'no rows: stops at once');
  const broken: Plugin = {
    registry: 'table',
    name: 'anomaly_scores',
    routes: () => [],
    call: () => ({
      code: 0,
      rows: (function* () {
        yield { id: '1' };
        throw new Error('disk gone');
      })(),
    }),
  };
  const b = await server(t, [broken]);
  const logs: string[] = [];
  const r = await warmUp(b.server, [ALERT_QUERY], WARM_UP, (l, m) => logs.push(`${l} ${m}`));
  t.equal(r.rehearsals, 0, 'a refused answer ends it, without throwing');
  t.match(logs.join('\n'), /warm-up: 0 rehearsals/);
  t.equal((await b.client.ping()).code, 0, 'the server is still up');
  const c = await server(t, [broken]);
  await c.server.close();
  t.equal(await c.server.rehearse('table', 'anomaly_scores', ALERT_QUERY.request, 10), null, 'a closed server rehearses nothing');
});

t.test('anomaly.ext rehearses the alert query once registered, and answers it as before', async (t) => {
  const e = await emulated({ config: { log_level: 'info' } });
  t.teardown(() => e.close());
  const store = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 1_000_000, maxDays: 30 });
  fillScores(store, 3000);
  const expected = store.select({ score: [{ op: '<', value: 0.3 }] }).map((ev) => ev.id);
  store.close();
  await e.launch();
  const logged = await until(
    async () => e.stderr.join(''),
    (s) => /warm-up: \d+ rehearsals/.test(s) || e.child?.exitCode !== null,
  );
  t.match(logged, new RegExp(`warm-up: ${WARM_UP.rounds} rehearsals, ${WARM_UP.rounds * 300} rows`), 'it rehearsed every round over the 300 rows');
  const rows = await e.emu.query('SELECT * FROM anomaly_scores WHERE score < 0.3');
  t.same(
    rows.map((r) => r.id),
    expected,
    'the alert query answers the stored rows',
  );
  t.equal((await e.emu.query('SELECT count(*) AS n FROM anomaly_scores'))[0].n, '3000', 'and every row is still there');
});
