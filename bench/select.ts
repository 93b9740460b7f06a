import * as fs from 'fs';
import * as path from 'path';
import { OsquerydEmulator } from '../emulator';
import { ExtensionManager, rpc, toNumber, types } from '../extension/rpc';
import { startServer } from '../extension/server';
import { scoresTable } from '../extension/tables/scores';
import type { ScoredEvent, ScoringService } from '../scorer/types';
import { RetainedScores } from '../state/scores';
import { percentile } from './ingest-client';
import type { BenchPart } from './part';
import { loadAverage, note, report, tmpdir } from './table';

// The alert query over a million retained rows, through the osqueryd emulator (Thrift call
// to the table, then SQLite over what it returns), against the same round trip for a query
// that matches nothing.

async function run(): Promise<void> {
  const dir = tmpdir('select');
  const store = new RetainedScores({ dir: path.join(dir, 'scores'), maxRows: 1_000_000, maxDays: 3650 });
  const batch: ScoredEvent[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const bad = i % 997 === 0;
    const score = bad ? 0.1 : 0.7 + (i % 300) / 1000;
    batch.push({ id: `id-${i}`, time: 1_790_000_000 + i, host: 'web-01', subject: `user${i % 100}`, query: 'pack_user-behavior_process_events', action: 'added', event: `exec /usr/bin/tool${i % 50} <- /bin/bash`, score, verdict: bad ? 'bad' : 'good', model: 'rarity', reasons: bad ? 'program `/usr/bin/nc` never seen before' : 'usual', columns: '{"pid":"1"}' });
    if (batch.length === 50_000) store.append(batch.splice(0));
  }
  const emu = new OsquerydEmulator({ dir: path.join(dir, 'osquery'), interval: 60, timeout: 5 });
  await emu.start();
  const service = { scores: store } as unknown as ScoringService;
  const table = scoresTable(Promise.resolve(service));
  const status = await rpc<{ uuid: unknown }>(emu.socket, ExtensionManager, 'registerExtension', [new types.InternalExtensionInfo({ name: 'bench', version: '1', sdk_version: '0.0.0', min_sdk_version: '0.0.0' }), { table: { anomaly_scores: table.routes() } }]);
  const server = await startServer({ path: `${emu.socket}.${toNumber(status.uuid)}`, plugins: [table], onShutdown: () => {}, log: () => {} });
  const time = async (sql: string) => {
    const lat: number[] = [];
    let rows = 0;
    for (let i = 0; i < 9; i++) {
      const t0 = process.hrtime.bigint();
      rows = (await emu.query(sql)).length;
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return { ms: percentile(lat, 50), rows };
  };
  const pushed = await time('SELECT * FROM anomaly_scores WHERE score < 0.3');
  const empty = await time("SELECT * FROM anomaly_scores WHERE score < 0.3 AND subject = 'nobody'");
  // the table's own share: the same filter straight on the store, no Thrift and no SQLite
  let t0 = process.hrtime.bigint();
  const direct: number[] = [];
  for (let i = 0; i < 9; i++) {
    t0 = process.hrtime.bigint();
    store.select({ score: [{ op: '<', value: 0.3 }] });
    direct.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  report({ measure: `SELECT * FROM anomaly_scores WHERE score < 0.3, 1,000,000 retained rows, through the emulator (${pushed.rows} rows), median of 9`, value: pushed.ms, unit: 'ms', kind: 'cost', baseline: { value: empty.ms, label: 'same query matching nothing' }, target: 30 });
  report({ measure: 'the same filter in the store alone (RetainedScores.select), median of 9', value: percentile(direct, 50), unit: 'ms', kind: 'cost', baseline: { value: empty.ms, label: 'emulator round trip matching nothing' } });
  note(`load average ${loadAverage()}`);
  server.close();
  await emu.stop();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

export const selectPart: BenchPart = { name: 'select', summary: 'the alert query over 1,000,000 retained rows through the emulator', run };
