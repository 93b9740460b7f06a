import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { Scorer, subjectFileName } from '../scorer/scorer';
import { usersStream } from './helpers/users';

// anomaly_scores keeps a long command line cut, ending in its length (scorer/features/extract.ts,
// storedColumns). Feedback re-reads the event from those columns: what a label teaches must be
// the event as it was scored, not one whose last argument reads '… (10010 chars)'.

t.test('a label on a row with a long command line teaches the event that was scored', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-feedback-cut-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 120, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }, 'test', {});
  const scorer = await Scorer.open({ config, stateDir: dir, log: () => {} });
  const [row] = usersStream(1, 1);
  const exe = `/usr/bin/${'d/'.repeat(1000)}tool`;
  const long = { ...row, columns: { ...row.columns, path: exe, cmdline: `${exe} -q ${'x'.repeat(10_000)}` } };
  row.columns = { ...row.columns, path: exe, cmdline: `${exe} -q ${'x'.repeat(10_000)}` };
  const [short] = await scorer.scoreRows([row]);
  const [scored] = await scorer.scoreRows([{ ...long, time: long.time + 1 }]);
  t.match(JSON.parse(scored.columns).cmdline, /… \(12017 chars\)$/, 'the retained command line is cut, with its length');
  scorer.feedback(scored, { id: scored.id, label: 'normal', note: '', time: 0 });
  scorer.save();
  const state = JSON.parse(
    fs.readFileSync(path.join(dir, 'subjects', subjectFileName(short.subject.includes('@') ? short.subject : `${short.subject}@h`)), 'utf8'),
  );
  const events = state.payload.window.map((x: { e: { time: number } }) => JSON.stringify({ ...x.e, time: 0 }));
  t.equal(events.length, 3, 'two rows scored and one label in the window');
  t.equal(events[2], events[1], 'the labelled event is the one scored');
  t.notMatch(events[2], /chars\)/, 'it carries no mark of the cut');
});
