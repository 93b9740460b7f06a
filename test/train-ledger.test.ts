import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { TrainLedger } from '../cli/train-ledger';
import type { ResultRow } from '../scorer/types';

// The ledger of runs `anomaly train` has learned (cli/train-ledger.ts) is appended to after
// each training; a crash or a full disk can leave its last line cut short.

const run = (time: number): ResultRow => ({ query: 'process_events', host: 'h1', time, action: 'added', columns: {}, decorations: {} });

t.test('a torn last line of the train ledger does not swallow the next run learned', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-ledger-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'trained-runs');
  let ledger = new TrainLedger(dir);
  t.ok(ledger.isNew(run(1_790_000_000)));
  t.ok(ledger.isNew(run(1_790_000_060)));
  ledger.save();
  // a crash (or ENOSPC) in the middle of the next append: half of a hash, no newline
  const whole = fs.readFileSync(file, 'utf8');
  fs.appendFileSync(file, whole.slice(0, 7));
  ledger = new TrainLedger(dir);
  t.notOk(ledger.isNew(run(1_790_000_000)), 'a run saved whole is still known');
  t.ok(ledger.isNew(run(1_790_000_120)), 'a new run');
  ledger.save();
  ledger = new TrainLedger(dir);
  t.notOk(ledger.isNew(run(1_790_000_120)), 'the run saved after the torn line is known: training the same log again does not learn it twice');
  t.notOk(ledger.isNew(run(1_790_000_060)));
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
});
