import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { TRAINING_RUN } from '../cli/run-journal';
import { anomaly } from './helpers/cli';
import { JUMPVM_LOG } from './helpers/paths';

// A journal that cannot be read (a symbolic link planted in the state directory, which the run
// never follows as root) stops every later run: its message must say what ends that.
t.test('a run whose journal is a symbolic link stops with a message that says to remove it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-journal-link-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'elsewhere'), '');
  fs.symlinkSync(path.join(dir, 'elsewhere'), path.join(state, TRAINING_RUN));
  const run = anomaly(['train', '--log', JUMPVM_LOG, '--state', state, '--quiet']);
  t.equal(run.code, 74, 'EX_IOERR');
  t.match(run.err, /journal of the run under way .*training-run/);
  t.match(run.err, /symbolic link, which is never followed/);
  t.match(run.err, /remove it to start afresh/);
  t.equal(fs.readFileSync(path.join(dir, 'elsewhere'), 'utf8'), '', 'the link target is not written');
});
