import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateContext } from '../../emulator/sql';
import { SCORE_COLUMNS, scoresTable } from '../../extension/tables/scores';
import type { HostAccounts } from '../../extension/host-accounts';
import type { Row } from '../../extension/plugin/table';
import type { ScoredEvent } from '../../scorer/types';
import { RetainedScores } from '../../state/scores';
import { ROOT } from './paths';
import { plainRow } from './scored';

// The alert pack's `bad` query's answer as osqueryd asks the table for it at a given time,
// for the tests of what a flooding subject keeps in it (alert-floodkeep, alert-floodfix,
// alert-ansfix, alert-delivered), and the flooder's rows.

const alerts = JSON.parse(fs.readFileSync(path.join(ROOT, 'packs', 'anomaly-alerts.conf'), 'utf8')) as { queries: Record<string, { query: string }> };
const NOW_SQL = "(CAST(strftime('%s', 'now') AS INTEGER) - 86400)";
/** the `bad` query as osqueryd runs it at `now` (its strftime evaluated) */
const badAt = (now: number) => alerts.queries.bad.query.replace(NOW_SQL, String(now - 86400));

/** the table call osqueryd makes for the `bad` query at `now`: its generate context */
export function badRequest(now: number): Record<string, string> {
  const context = generateContext(
    badAt(now),
    SCORE_COLUMNS.map((c) => ({ name: c.name, type: c.type, op: '0' })),
    'anomaly_scores',
  );
  return { action: 'generate', context };
}

/**
 * the table plugin's answer to the `bad` query at `now`, with the context osqueryd sends,
 * delivered: what it commits run as the server runs it once the reply is written; `accounts`:
 * the host's users table as the extension read it
 */
export async function badAnswer(store: RetainedScores, now: number, accounts?: HostAccounts): Promise<Row[]> {
  const res = await scoresTable(store, accounts).call(badRequest(now), new Map());
  const rows: Row[] = [];
  for await (const r of (res as unknown as { rows: AsyncIterable<Row> }).rows) rows.push(r);
  res.delivered?.();
  return rows;
}

/** an empty score store in a temporary directory, removed at the test's end */
export function tmpScoreStore(t: { teardown(fn: () => void): void }): RetainedScores {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-alert-answer-'));
  const store = new RetainedScores({ dir, maxRows: 1_000_000, maxDays: 30 });
  t.teardown(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

/** eve's bad row i: her own program from a hidden temporary place, with `fields` in place of its own */
export function evesRow(i: number, fields: Partial<ScoredEvent>): ScoredEvent {
  return plainRow(i, {
    id: `eve-${i}`,
    host: 'web-01',
    subject: 'eve',
    event: 'exec /tmp/<tmp>/x <- /bin/bash',
    verdict: 'bad',
    reasons: 'program `/tmp/<tmp>/x` never seen before (rarity)',
    ...fields,
  });
}
