import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { anomaly } from './helpers/cli';

// The evaluation pair `demo --eval-split` writes holds every demo user's command lines: as
// `eval --out`'s listing, it is 0600 whatever the umask, and written without following a link
// (it took the umask's mode, 0666 under umask 0, and wrote through a link at its name).

t.test('demo --eval-split under umask 0: train.log and test.log are 0600, and a link at their name is replaced, not followed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-demo-files-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'split');
  fs.mkdirSync(out, { mode: 0o700 });
  const elsewhere = path.join(dir, 'elsewhere');
  fs.writeFileSync(elsewhere, "not the demo's\n", { mode: 0o644 });
  fs.symlinkSync(elsewhere, path.join(out, 'train.log'));
  const old = process.umask(0);
  let r: ReturnType<typeof anomaly>;
  try {
    // the child inherits the umask
    r = anomaly(['demo', '--eval-split', '--days', '4', '--end', '2026-11-20', '--out', out, '--quiet']);
  } finally {
    process.umask(old);
  }
  t.equal(r.code, 0, r.err);
  for (const name of ['train.log', 'test.log']) {
    const st = fs.lstatSync(path.join(out, name));
    t.ok(st.isFile(), `${name} is a file of its own`);
    t.equal(st.mode & 0o777, 0o600, `${name}: 0600 under umask 0`);
    t.ok(st.size > 0, `${name} holds the lines`);
  }
  t.equal(fs.readFileSync(elsewhere, 'utf8'), "not the demo's\n", 'the file the link named is untouched');
  t.same(fs.readdirSync(out).sort(), ['test.log', 'train.log'], 'nothing else is written, no copy left behind');
});
