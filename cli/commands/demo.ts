import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { DEMO_USERS, evaluationSplit, generateDemo } from '../../demo/generate';
import { OsquerydEmulator } from '../../emulator';
import { answers } from '../../emulator/manager-socket';
import { writeReport } from '../../report/report';
import { replaceFile, writeAll } from '../../state/atomic';
import { BAD_BELOW, GOOD_FROM } from '../../scorer/calibration';
import type { ModelName, ScoredEvent, ScoredWindow } from '../../scorer/types';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { promptLine } from './prompt-dot';
import { table, writableDir } from './shared';

export const help = `Usage: anomaly demo [--out DIR] [--days N] [--seed N] [--end DATE] [--no-attacks] [--eval-split] [--serve]
                    [--quiet]

Run the product end to end on a fresh machine, without osqueryd: generate a multi-user,
multi-day osquery result stream for one Linux host (an admin, a developer, a service
account and the host's daemons) with six attack stories on the last day, start the
project's osqueryd emulator, let it launch the real anomaly.ext and log every line
through it, then print the bad and ugly rows as osqueryi would and write an HTML report.

Options:
  --out DIR      where the stream, state and report go (default: a new temp directory)
  --days N       days of history to generate, 4 to 60 (default 14)
  --seed N       random seed (default 7)
  --end DATE     the last day of the stream, YYYY-MM-DD in UTC, when the attacks happen
                 (default yesterday); the same seed and end give the same stream and
                 scores on any day
  --no-attacks   generate normal behaviour only
  --eval-split   only write the stream as an evaluation pair, DIR/train.log (every day but
                 the last) and DIR/test.log (the last day, lines labelled normal or
                 anomalous), for: anomaly eval --train DIR/train.log --test DIR/test.log
  --serve        keep the emulated osqueryd and the extension running after the summary, with
                 an osquery> prompt for SQL, so that 'anomaly status' and 'anomaly
                 feedback' can be tried against it; Ctrl-C ends it
  --quiet        no progress output
`;

const DAY = 86400;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, {
    out: { kind: 'value' },
    days: { kind: 'value' },
    seed: { kind: 'value' },
    end: { kind: 'value' },
    'no-attacks': { kind: 'bool' },
    'eval-split': { kind: 'bool' },
    serve: { kind: 'bool' },
    quiet: { kind: 'bool' },
  });
  const days = Number(flags.days ?? 14);
  const seed = Number(flags.seed ?? 7);
  if (!Number.isInteger(days) || days < 4 || days > 60) throw new CliError('--days must be a whole number from 4 to 60', EXIT.usage);
  if (!Number.isInteger(seed)) throw new CliError('--seed must be a whole number', EXIT.usage);
  const out = path.resolve((flags.out as string | undefined) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-demo-')));
  const bar = progress(process.stderr, Boolean(flags.quiet));
  const started = Date.now();

  // the stream ends at the midnight after --end, by default the last one: the attacks happen "yesterday"
  const end = flags.end === undefined ? Math.floor(Date.now() / 1000 / DAY) * DAY : endOfDay(String(flags.end));
  const stream = generateDemo({ seed, days, start: end - days * DAY, host: 'web-01', attacks: !flags['no-attacks'] });
  // one level at a time and one line when it fails: a recursive mkdir onto a file threw a stack
  // trace, and under /proc it never returned
  const problem = writableDir(out) ?? othersMayWrite(out);
  if (problem) throw new CliError(`cannot write the demo into ${out}: ${problem}; pass --out DIR`, EXIT.cantcreat);
  if (flags['eval-split']) {
    const { train, test } = evaluationSplit(stream);
    writeLines(path.join(out, 'train.log'), train);
    writeLines(path.join(out, 'test.log'), test);
    process.stdout.write(
      `wrote ${train.length} training and ${test.length} labelled test lines; evaluate with\n  anomaly eval --train ${path.join(out, 'train.log')} --test ${path.join(out, 'test.log')}\n`,
    );
    return EXIT.ok;
  }
  // the emulator shares this process with the report's rendering, which holds the event loop
  // for seconds: a 10 s interval and timeout keep both sides' health checks clear of that stall
  // (the extension takes only a socket gone or refusing for osqueryd gone, never a slow ping)
  const emu = new OsquerydEmulator({ dir: path.join(out, 'osquery'), interval: 10, timeout: 10, hostIdentifier: 'web-01', users: DEMO_USERS });
  // a demo still running into this --out (its npm or terminal gone, the process not) keeps
  // its files: the emulator would refuse its socket anyway, but only after the state was wiped
  if (await answers(emu.socket))
    throw new CliError(`another demo is still running into ${out} (its osqueryd answers on ${emu.socket}): end it, or pass another --out`, EXIT.tempfail);
  const logFile = path.join(out, 'osqueryd.results.log');
  writeLines(logFile, stream.lines);

  // install the extension as osqueryd wants it: a .ext file in a non-sticky directory
  const extDir = path.join(out, 'extensions');
  fs.mkdirSync(extDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(extDir, 0o755);
  const ext = path.join(extDir, 'anomaly.ext');
  fs.copyFileSync(path.resolve(__dirname, '../../../extension/anomaly.ext'), ext);
  fs.chmodSync(ext, 0o755);
  const stateDir = path.join(out, 'state');
  fs.rmSync(stateDir, { recursive: true, force: true });
  const configFile = path.join(out, 'anomaly.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({ state_dir: stateDir, log_level: 'warn', learning: { min_events: 300, min_days: 3 }, budget: { training_threads: 2 } }, null, 2) + '\n',
    { mode: 0o644 },
  );
  // whatever the umask (or a file left by an earlier run): the extension refuses a config
  // anyone can write
  fs.chmodSync(configFile, 0o644);

  const extensionLog: string[] = [];
  let failed = true;
  await emu.start();
  // ended by a signal before its summary (kill, a closed terminal), the demo takes the emulator
  // and the extension with it: an orphaned extension pings the next run's emulator on the same
  // --out, and lives on beside that run's own
  const ending = (signal: NodeJS.Signals) => void emu.shutdown(2000).finally(() => process.exit(128 + (os.constants.signals[signal] ?? 0)));
  const endings = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of endings) process.on(s, ending);
  const ownSignals = () => endings.forEach((s) => process.off(s, ending));
  try {
    // the extension's own log is kept, and shown only if the demo fails: its warnings about
    // the emulator going away at the end are expected, not news
    const child = emu.launch(ext, {
      env: { ANOMALY_DIST: path.resolve(__dirname, '../..'), ANOMALY_CONFIG: configFile, ANOMALY_STATE_DIR: '' },
      stderr: 'pipe',
    });
    child.stderr?.on('data', (chunk: Buffer) => extensionLog.push(chunk.toString('utf8')));
    // as long as the start takes on this host (a loaded one is slow, not broken); an extension
    // that cannot start exits, and that ends the wait
    await emu.waitFor('anomaly', Infinity, () =>
      child.exitCode !== null || child.signalCode !== null ? `it exited (${child.exitCode ?? child.signalCode})` : null,
    );
    await emu.startLogger('anomaly');
    for (let i = 0; i < stream.lines.length; i++) {
      await emu.logResult('anomaly', stream.lines[i]);
      if (i % 200 === 0) bar.update('osqueryd logging results', i, stream.lines.length);
    }
    bar.update('osqueryd logging results', stream.lines.length, stream.lines.length);
    for (;;) {
      const [c] = await emu.query("SELECT queued, scored FROM anomaly_models WHERE subject = '*'");
      bar.update('anomaly.ext scoring', stream.lines.length - Number(c?.queued ?? 0), stream.lines.length);
      if (c && c.queued === '0') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    bar.done();

    const sql = `SELECT datetime(time, 'unixepoch') AS time, subject, event, printf('%.3f', score) AS score, reasons FROM anomaly_scores WHERE score < ${BAD_BELOW} ORDER BY time`;
    const bad = await emu.query(sql);
    const uglySql = `SELECT datetime(time, 'unixepoch') AS time, subject, event, printf('%.3f', score) AS score, reasons FROM anomaly_scores WHERE score >= ${BAD_BELOW} AND score < ${GOOD_FROM} ORDER BY score LIMIT 10`;
    const ugly = await emu.query(uglySql);
    const [totals] = await emu.query(
      "SELECT count(*) AS rows, sum(verdict = 'bad') AS bad, sum(verdict = 'ugly') AS ugly, sum(verdict = 'good') AS good, sum(verdict = 'learning') AS learning FROM anomaly_scores",
    );
    const modelsSql =
      "SELECT subject, group_concat(model) AS models, state, events, calibration, max(CASE model WHEN 'lstm' THEN backend END) AS lstm_backend FROM anomaly_models WHERE subject != '*' GROUP BY subject ORDER BY subject";
    const models = await emu.query(modelsSql);

    const w = (s: string) => process.stdout.write(s);
    w(`\nosquery> ${sql};\n`);
    w(table(bad, ['time', 'subject', 'event', 'score', 'reasons'], 90));
    w(`\nosquery> ${uglySql};\n`);
    w(table(ugly, ['time', 'subject', 'event', 'score', 'reasons'], 90));
    w(`\nosquery> ${modelsSql};\n`);
    w(table(models, ['subject', 'models', 'state', 'events', 'calibration', 'lstm_backend']));

    // which stories surfaced: a story is found when one of its rows is bad
    const all = await emu.query('SELECT id, time, subject, event, score, verdict, reasons, model, query, action, host, columns FROM anomaly_scores');
    const found = stream.stories.map((story) => {
      const storyRows = new Set(story.lines.map((i) => stream.lines[i]));
      const hits = all.filter((r) => r.verdict === 'bad' && [...storyRows].some((l) => l.includes(`"unixTime":${r.time},`) && sameColumns(l, r.columns)));
      return { story, hits };
    });
    w(
      `\n${stream.lines.length.toLocaleString('en-US')} result lines, ${days} days, ${Number(totals.rows).toLocaleString('en-US')} rows scored: ${totals.bad} bad, ${totals.ugly} ugly, ${totals.good} good, ${totals.learning} while learning.\n`,
    );
    for (const f of found)
      w(
        `  ${f.hits.length ? 'found ' : 'missed'}  ${f.story.name} (${f.story.user})${f.hits.length ? `: ${f.hits.length} of ${f.story.lines.length} rows bad` : ''}\n`,
      );
    const normalBad = Number(totals.bad) - found.reduce((n, f) => n + f.hits.length, 0);
    w(`  ${normalBad} bad rows outside the attack stories\n`);

    const scores: ScoredEvent[] = all.map((r) => ({
      id: r.id,
      host: r.host,
      subject: r.subject,
      query: r.query,
      event: r.event,
      reasons: r.reasons,
      columns: r.columns,
      time: Number(r.time),
      score: r.score === '' ? null : Number(r.score),
      model: r.model as ModelName | '',
      action: r.action as ScoredEvent['action'],
      verdict: r.verdict as ScoredEvent['verdict'],
    }));
    const summaries = (
      await emu.query("SELECT subject, model, state, events, last_trained, calibration, backend FROM anomaly_models WHERE subject != '*'")
    ).map((m) => ({
      subject: m.subject,
      model: m.model as ModelName,
      state: m.state as 'learning' | 'monitoring',
      events: Number(m.events),
      lastTrained: Number(m.last_trained),
      calibration: Number(m.calibration),
      backend: m.backend,
    }));
    const windows: ScoredWindow[] = (
      await emu.query('SELECT subject, host, start, end, events, score, verdict, model, reasons, top_ids FROM anomaly_windows')
    ).map((r) => ({
      subject: r.subject,
      host: r.host,
      start: Number(r.start),
      end: Number(r.end),
      events: Number(r.events),
      score: r.score === '' ? null : Number(r.score),
      verdict: r.verdict as ScoredWindow['verdict'],
      model: r.model as ScoredWindow['model'],
      reasons: r.reasons,
      top_ids: r.top_ids,
    }));
    const report = await writeReport(path.join(out, 'report'), {
      scores,
      windows,
      models: summaries,
      generated: Math.floor(Date.now() / 1000),
      title: 'anomaly.ext demo: web-01',
    });
    w(`\nreport: ${report}\nresults log: ${logFile}\nfinished in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    failed = false;
    // serve() has its own ending for the signals
    ownSignals();
    if (flags.serve) {
      // an example for feedback: the lowest-scored row outside the stories (a false positive if there is one)
      const inStories = new Set(found.flatMap((f) => f.hits));
      const example = all.filter((r) => r.score !== '' && !inStories.has(r)).sort((a, b) => Number(a.score) - Number(b.score))[0];
      const exited = new Promise<string>((resolve) =>
        child.once('exit', (code, signal) => resolve(`anomaly.ext exited (${signal ?? `status ${code}`}); it said:\n${extensionLog.join('')}`)),
      );
      const why = await serve(emu, example?.id, exited);
      if (why) {
        process.stderr.write(why);
        return EXIT.unavailable;
      }
    }
    return EXIT.ok;
  } finally {
    ownSignals();
    await emu.shutdown(5000);
    if (failed && extensionLog.length) process.stderr.write(`anomaly.ext said:\n${extensionLog.join('')}`);
  }
}

/**
 * a file of result lines, which hold every demo user's command lines: 0600 whatever the umask
 * (as eval --out's listing), and written beside and renamed over, so never through a link
 */
function writeLines(file: string, lines: readonly string[]): void {
  replaceFile(file, (fd) => writeAll(fd, lines.join('\n') + '\n'), false);
}

/** YYYY-MM-DD (UTC) to the midnight that ends that day */
function endOfDay(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== date)
    throw new CliError(`--end must be a date as YYYY-MM-DD, not ${JSON.stringify(date)}`, EXIT.usage);
  // rows dated ahead of the clock are scored but make no history and close no window
  // (scorer/clock.ts): a stream ending after today would show nothing
  if (t > Date.now())
    throw new CliError(`--end ${date} is after today (${new Date().toISOString().slice(0, 10)} UTC): the stream must have happened`, EXIT.usage);
  return t / 1000 + DAY;
}

/**
 * Keep the emulator and the extension up, answer SQL typed at a prompt, until Ctrl-C, Ctrl-D
 * or the extension ends (`ended`, resolving to why): '' when the user ended it.
 */
async function serve(emu: OsquerydEmulator, exampleId: string | undefined, ended: Promise<string>): Promise<string> {
  const npx = 'npx anomaly';
  process.stdout.write(
    `\nServing: the emulated osqueryd (socket ${emu.socket}) and anomaly.ext keep running until Ctrl-C or .quit.\n` +
      `In another terminal, in this folder:\n` +
      `  ${npx} status --socket ${emu.socket}\n` +
      `  ${npx} feedback ${exampleId ?? '<id>'} normal --note "a false positive" --socket ${emu.socket}\n` +
      `  (the lowest-scored row outside the attack stories; any id from anomaly_scores works)\n` +
      `Here, SQL as in osqueryi (and .tables, .schema TABLE, .quit), for example:\n` +
      `  SELECT subject, event, score, reasons FROM anomaly_scores WHERE score < ${BAD_BELOW} ORDER BY score LIMIT 5;\n` +
      `  SELECT * FROM anomaly_feedback;\n`,
  );
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'osquery> ', terminal: Boolean(process.stdin.isTTY) });
  const why = await new Promise<string>((resolve) => {
    const stop = () => resolve('');
    void ended.then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Ctrl-D ends a terminal session; a pipe that ends (CI, no stdin) keeps serving until a signal
    let closed = false;
    rl.on('close', () => {
      closed = true;
      if (process.stdin.isTTY) stop();
    });
    // one statement at a time, in the order typed or piped
    let previous: Promise<void> = Promise.resolve();
    rl.on('line', (line) => {
      const typed = promptLine(line);
      previous = previous.then(async () => {
        if ('quit' in typed) return stop();
        if ('say' in typed) process.stdout.write(`${typed.say}\n`);
        else if (typed.sql) {
          try {
            const rows = await emu.query(typed.sql);
            process.stdout.write(rows.length ? table(rows, Object.keys(rows[0])) : '(no rows)\n');
          } catch (err) {
            process.stdout.write(`Error: ${(err as Error).message}\n`);
          }
        }
        if (!closed) rl.prompt();
      });
    });
    rl.prompt();
  });
  rl.close();
  process.stdin.destroy();
  process.stdout.write('\nstopping the emulator and the extension\n');
  return why;
}

function sameColumns(line: string, columnsJson: string): boolean {
  try {
    const doc = JSON.parse(line);
    const cols = doc.columns ?? doc.snapshot?.[0];
    return JSON.stringify(cols) === columnsJson;
  } catch {
    return false;
  }
}

/**
 * The demo writes its logs and config with plain writes, and installs in `extensions/` the
 * launcher it then runs: in a directory others can write to (a shared /tmp/demo), a link they
 * planted there would take root's writes to any file, and their own `extensions/` would have
 * root run their program. The directory must be ours and writable by no one else, as a state
 * directory is.
 */
function othersMayWrite(dir: string): string | null {
  const st = fs.statSync(dir);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not by the user the demo runs as (uid ${uid})`;
  if (st.mode & 0o022)
    return `${dir} is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}), who could plant links there`;
  return null;
}
