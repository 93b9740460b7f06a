import * as fs from 'fs';
import * as path from 'path';
import t, { type Test } from 'tap';
import { counters, emulated, exited, processLine as line, until, type Emulated } from './helpers/emulated';

// The open windows are saved with the last queue row they took in (`taken`, windows/open.json)
// every minute and when a subject changes state; the queue commits a batch once its rows are
// retained. A SIGKILL between two saves left the rows taken in since the last one in no window:
// the queue did not give them back (committed), and the window closed with fewer events than
// were logged, scored from a part of its rows. Now the rows retained past `taken` are given
// back to the windows at the next start (scorer/window-rebuild.ts).

/** lines 0..399 fall in the window starting here (600 s windows, 60 s grace: conf/config.ts) */
const WINDOW = 1_789_999_800;
const IN_WINDOW = 400;
/** lines from 460 on close it (its end, 1_790_000_400, plus the grace) */
const CLOSING = 460;

const windowQuery = `SELECT subject, start, "end", events, score, verdict, reasons FROM anomaly_windows WHERE start = ${WINDOW}`;

/** log lines from..to-1 and wait until all `sent` lines so far are scored */
async function send(e: Emulated, from: number, to: number, sent: number): Promise<number> {
  for (let i = from; i < to; i++) await e.emu.logResult('anomaly', line(i, '1000'));
  sent += to - from;
  await until(
    () => counters(e),
    (c) => c.queued === 0 && c.scored >= sent,
  );
  return sent;
}

/** the last queue row the window state on disk took in, and how many of the retained rows came after it */
function savedTaken(stateDir: string): string {
  const file = path.join(stateDir, 'windows', 'open.json');
  if (!fs.existsSync(file)) return 'no window state saved';
  return `window state saved with taken ${JSON.stringify(JSON.parse(fs.readFileSync(file, 'utf8')).payload.taken)}`;
}

/**
 * The window's row in anomaly_windows after lines 0..399 and a closing line, the extension
 * SIGKILLed (or not) once the first `killAfter` lines were scored, and started again.
 */
async function closedWindow(t: Test, config: Record<string, unknown>, kill: number | null) {
  let killAfter = kill;
  const e = await emulated({ config });
  t.teardown(() => e.close());
  let child = await e.launch();
  let sent = await send(e, 0, killAfter ?? IN_WINDOW, 0);
  if (killAfter !== null) {
    // lines after the window state's last save: ten more until ten go by without one (a
    // subject that changes state saves it), so the kill lands between two saves
    for (let saved = savedTaken(e.stateDir); ;) {
      sent = await send(e, killAfter, killAfter + 10, sent);
      killAfter += 10;
      if (savedTaken(e.stateDir) === saved) break;
      saved = savedTaken(e.stateDir);
    }
    child.kill('SIGKILL');
    await exited(child);
    t.comment(`killed after ${killAfter} lines scored; ${savedTaken(e.stateDir)} (a line is about 205 bytes)`);
    e.emu.catastrophic = null;
    // osqueryd forgets a killed extension at its next health check; until then a new one is a duplicate
    await until(
      async () => e.emu.registered().length,
      (n) => n === 0,
    );
    child = await e.launch();
    sent = await send(e, killAfter, IN_WINDOW, sent);
  }
  await send(e, CLOSING, CLOSING + 5, sent);
  const [w] = await until(
    () => e.emu.query(windowQuery),
    (rows) => rows.length > 0,
  );
  const rows = await e.emu.query(windowQuery);
  t.equal(rows.length, 1, 'the window is in anomaly_windows once');
  child.kill('SIGTERM');
  await exited(child);
  return w;
}

for (const [name, config, kill] of [
  // no window state on disk at the kill: the lives of chaos seed 40, each killed within its first minute
  ['before the window state was ever saved', { learning: { min_events: 1_000_000, min_days: 0 } }, 300],
  // the subject starts monitoring at row 200 and is saved with the windows then; rows after it follow
  ['after a save, with rows taken in since', { learning: { min_events: 200, min_days: 0 } }, 330],
] as const)
  t.test(`a SIGKILL ${name}: the open window closes with every row and the score of an uninterrupted run (opendur)`, async (t) => {
    const straight = await closedWindow(t, config, null);
    t.equal(Number(straight.events), IN_WINDOW, `uninterrupted: the window holds its ${IN_WINDOW} rows`);
    const killed = await closedWindow(t, config, kill);
    t.same(killed, straight, 'killed and started again: the same window, events, score, verdict and reasons');
  });
