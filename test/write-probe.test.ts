import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { writableDir } from '../cli/commands/shared';

// writableDir judges a folder writable by creating a file in it, as root and often in a place
// others write to (/tmp): whoever may write there must not be able to name that file first.

t.test('a file planted where the probe would go does not make a writable folder unwritable', async (t) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-probe-'));
  t.teardown(() => fs.rmSync(parent, { recursive: true, force: true }));
  // what another user of the folder can guess: the names of this process's pid
  for (const name of [`.anomaly-probe-${process.pid}`, `.anomaly-probe-${process.pid}.tmp`]) fs.writeFileSync(path.join(parent, name), '');
  fs.symlinkSync('/nonexistent', path.join(parent, `.anomaly-probe-${process.pid}-0`));
  const before = fs.readdirSync(parent).sort();
  t.equal(writableDir(path.join(parent, 'out'), 0o755, false), null, 'a missing folder under it could be created');
  t.equal(writableDir(parent, 0o755, false), null, 'the folder itself is writable');
  t.equal(writableDir(path.join(parent, 'made'), 0o700), null, 'a folder made there is writable');
  t.same(fs.readdirSync(parent).sort(), [...before, 'made'].sort(), 'no probe left behind, the planted files untouched');
  t.same(fs.readdirSync(path.join(parent, 'made')), [], 'none in the folder made either');
});
