import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { RetainedScores } from '../state/scores';
import { answerBytes } from './helpers/answer-bytes';
import { plainRow } from './helpers/scored';

// Records are stored with hidden characters as \u escapes (rev10, storedJson), so that a
// record's stored bytes, by which an answer is budgeted, bound the cells shown of it. A store
// written by the version before kept them raw (DEL is 1 byte raw, `\x7f` or `\u007f` shown):
// read after an upgrade, its records must still be budgeted at what they show.

const DEL = '\x7f';

t.test('records written raw by the previous version are budgeted at their shown size', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-old-hidden-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rows = Array.from({ length: 400 }, (_, i) =>
    plainRow(i, {
      subject: `u${i % 40}`,
      event: `exec /tmp/${DEL.repeat(200)}`,
      reasons: DEL.repeat(200),
      columns: JSON.stringify({ cmdline: DEL.repeat(600) }),
      score: 0.1,
      verdict: 'bad',
    }),
  );
  // as the previous version wrote them: JSON.stringify, hidden characters raw
  fs.writeFileSync(path.join(dir, 'segment-00000001.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''), { mode: 0o600 });
  const store = new RetainedScores({ dir, maxRows: 100_000, maxDays: 36500 });
  t.teardown(() => store.close());
  t.equal(store.size, 400, 'the old records are read');

  const budget = 1_000_000;
  const { shown, rows: answered } = answerBytes(store, budget);
  t.ok(answered > 0, `rows are answered (${answered})`);
  t.ok(shown <= budget, `the cells answered (${shown} bytes) stay within the answer's budget (${budget})`);
  t.end();
});
