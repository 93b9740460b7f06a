import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t, { type Test } from 'tap';
import { RunJournal, SCORING_RUN } from '../cli/run-journal';
import { CliError } from '../cli/exit';

// chaos3: a journal whose first line is whole but no run's head (damaged: a bit flipped, a
// block of zeros after a crash of the filesystem) was taken for no journal at all. The run got
// a new epoch, truncated the file at its first append, and the killed run's rows, retained,
// were taken for the extension's: the subjects that had not saved them never learnt them, and
// nothing said so. It now stops as an unreadable journal does, saying what ends the stop.

function journalOf(t: Test, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-journal-damage-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, SCORING_RUN), text, { mode: 0o600 });
  return dir;
}

const ROWS = ['00000000000a1\n', '00000000000b2\n'].join('');

t.test('a journal whose head is damaged stops the run and says to remove it', async (t) => {
  const dir = journalOf(t, `rux 0123456789abcdef\n${ROWS}`);
  let thrown: unknown = null;
  try {
    new RunJournal(dir, SCORING_RUN);
  } catch (err) {
    thrown = err;
  }
  t.ok(thrown instanceof CliError, 'the run stops');
  t.match((thrown as Error | null)?.message, /journal of the run under way .* is damaged/);
  t.match((thrown as Error | null)?.message, /remove it to start afresh/);
  t.equal(fs.readFileSync(path.join(dir, SCORING_RUN), 'utf8'), `rux 0123456789abcdef\n${ROWS}`, 'the journal is left as it was');
});

t.test('a journal torn in its head (killed in its first write, nothing scored) is no run to resume, and no error', async (t) => {
  const dir = journalOf(t, 'run 0123');
  const j = new RunJournal(dir, SCORING_RUN);
  t.notOk(j.resumed);
  j.placesOf([1, 2]);
  t.match(fs.readFileSync(path.join(dir, SCORING_RUN), 'utf8'), /^run [0-9a-f]{16}\n0000000000001\n0000000000002\n$/, 'written afresh');
});

t.test('an empty journal (killed as it was created) is no run to resume, and no error', async (t) => {
  const dir = journalOf(t, '');
  t.notOk(new RunJournal(dir, SCORING_RUN).resumed);
});

t.test('a whole head and damaged rows: the run resumes the rows it can read', async (t) => {
  const dir = journalOf(t, `run 0123456789abcdef\n00000000000a1\nzz\n00000000000b2\n`);
  const j = new RunJournal(dir, SCORING_RUN);
  t.ok(j.resumed);
  t.ok(j.leftByCrash(0xa1) && j.leftByCrash(0xb2));
  t.same(j.placesOf([0xb2]), [[0, 2, 0]], 'the rows after a damaged line keep their places');
});
