import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { trainedState } from '../bench/watchdog';
import { uidOf, usersStream } from '../bench/users-stream';
import { parseResultLine } from '../scorer/parse/results';
import { Scorer } from '../scorer/scorer';

// bench watchdog --trained DIR: a state directory where the users have left learning, made
// once and reused, and a stream of the rows that come after the ones they learnt.

const USERS = 3;
const EVENTS = 170;
const users = Array.from({ length: USERS }, (_, u) => ({ uid: uidOf(u), username: `user${u}` }));
const config = (dir: string) =>
  resolveConfig({ state_dir: dir, learning: { min_events: 120, min_days: 0 }, models: { lstm: false }, memory: { resident_subjects: 2 } }, 'test', {});

t.test('the users of a trained state are monitoring when a scorer opens it, and a second call reuses it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-bench-trained-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const c = config(path.join(dir, 'unused'));
  t.equal(await trainedState(dir, c, USERS, EVENTS, users), USERS + 1, 'the users and the host baseline');
  const subjects = path.join(dir, 'state', 'subjects');
  const files = fs.readdirSync(subjects).sort();
  const written = files.map((f) => fs.statSync(path.join(subjects, f)).mtimeMs);
  t.equal(await trainedState(dir, c, USERS, EVENTS, users), USERS + 1);
  t.same(
    files.map((f) => fs.statSync(path.join(subjects, f)).mtimeMs),
    written,
    'not trained again',
  );

  // as the extension would: open the state, then score the rows after the learnt ones
  const scorer = await Scorer.open({ config: config(path.join(dir, 'state')), stateDir: path.join(dir, 'state') });
  scorer.setUsers(users);
  const monitoring = () => scorer.summaries().filter((s) => s.model === 'rarity' && s.state === 'monitoring').length;
  t.equal(monitoring(), USERS + 1, 'monitoring from the start');
  const lines = usersStream(USERS, EVENTS + 40, 20, 'web-01', EVENTS);
  t.equal(lines.length, USERS * 2, 'two lines of 20 rows per user');
  let rows = 0;
  for (const line of lines) {
    const parsed = parseResultLine(line);
    rows += parsed.length;
    for (const e of await scorer.scoreRows(parsed)) t.not(e.verdict, 'learning', 'scored by a trained subject');
  }
  t.equal(rows, USERS * 40);
  // a different setup is trained anew
  t.equal(await trainedState(dir, c, USERS - 1, EVENTS, users), USERS);
});
