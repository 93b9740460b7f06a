import * as fs from 'fs';
import * as path from 'path';
import { Scorer } from '../../scorer/scorer';
import { WindowScorer, windowOptionsFrom } from '../../scorer/windows';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { SCORED_RUNS, TRAINED_RUNS, TrainLedger } from '../train-ledger';
import { killedRunReordered, killedRunUnmet, RunJournal, TRAINING_RUN } from '../run-journal';
import {
  cellText,
  distinctInputs,
  configFrom,
  holdState,
  lexists,
  logBatches,
  STATE_FLAGS,
  STATE_HELP,
  stderrLog,
  writableDir,
  type RowStreamStats,
} from './shared';
import { notScored } from '../../extension/own-output';
import { RetainedScores } from '../../state/scores';
import { runNumber, type NumberCounts } from '../../state/retained-runs';
import type { ResultRow } from '../../scorer/types';

export const help = `Usage: anomaly train --log FILE... [options]
       anomaly train --fleet FILE... [--out FILE] [options]

Learn each subject's normal behaviour from osquery results logs and save the models in the
state directory, so that the extension (or 'anomaly score') starts out monitoring.
A subject with the config's learning.min_events rows in the logs is trained whatever time
they span: learning.min_days is not kept here (an hour's log of 1,100 rows of one user made
that user monitoring), so give it logs that cover the subjects' usual days.
Accepts JSON lines as osqueryd's filesystem logger writes them (event and batch formats,
snapshots), JSON-array exports, and .gz files of either. What is learnt decides what the
models take for normal: a log another user could change (theirs, writable by everyone, or in
a folder they may write) is refused (exit 66), as a config or fleet prior of theirs is.

With --fleet, pool the logs of many hosts into one fleet prior instead: the models a
host baseline has, trained over every row, written to one file (default
STATE/fleet.json). Point the config's baselines.fleet_prior at it and subjects still
learning on any host are scored against it too.

Options:
  --log FILE...    results logs to learn from (repeatable)
  --fleet FILE...  results logs of many hosts to train a fleet prior from (repeatable)
  --out FILE       where --fleet writes the prior (default STATE/fleet.json)
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { ...STATE_FLAGS, log: { kind: 'many' }, fleet: { kind: 'many' }, out: { kind: 'value' } });
  if (flags.fleet) return trainFleet(flags);
  const given = (flags.log as string[] | undefined) ?? [];
  if (!given.length) throw new CliError('train needs --log FILE or --fleet FILE (see anomaly train --help)', EXIT.usage);
  // --log learns into the state directory and writes no other file: an --out given with it
  // would be silently dropped, and the user would look for a file that never came
  if (flags.out !== undefined)
    throw new CliError(`--out is where --fleet writes its prior; train --log learns into the state directory (--state DIR to choose it)`, EXIT.usage);
  const log = stderrLog(flags);
  const files = distinctInputs(given, 'learnt', log);
  const config = configFrom(flags);
  holdState(config, 'anomaly train', log);
  const bar = progress(process.stderr, Boolean(flags.quiet));
  const scorer = await Scorer.open({ config, stateDir: config.state_dir, log });
  const windows = new WindowScorer(windowOptionsFrom(config, path.join(config.state_dir, 'windows'), log));
  // a first pass learns who the uids are (users snapshots, rows with both), so that a
  // person's uid-only rows are not a second subject
  bar.update('reading users', 0, 0);
  for await (const batch of logBatches(files, { lines: 0, rows: 0, errors: 0, skipped: 0 }, () => {}, undefined, config.queue.max_line_bytes))
    scorer.learnUsers(batch);
  const stats: RowStreamStats = { lines: 0, rows: 0, errors: 0, skipped: 0 };
  const skip = (rows: readonly ResultRow[]) => notScored(config, rows);
  const ledger = new TrainLedger(config.state_dir, TRAINED_RUNS, undefined, (msg) => log('warn', msg));
  // The extension (and 'anomaly score') retains the rows it scores, and has learnt the good
  // ones, but keeps no ledger of trained rows: a host's results log, written beside the
  // anomaly logger, holds them too, and training on it learnt them a second time.
  // 'anomaly score' keeps a ledger of the rows it scored, read too: its retained rows leave
  // with retention's max_rows and max_days, and stay learnt (rev9).
  const scored = new TrainLedger(config.state_dir, SCORED_RUNS, undefined, (msg) => log('warn', msg));
  let retainedRows: NumberCounts | null = null;
  let retainedRuns: NumberCounts | null = null;
  const scoresDir = path.join(config.state_dir, 'scores');
  if (lexists(scoresDir)) {
    const retained = new RetainedScores({
      dir: scoresDir,
      maxRows: config.retention.max_rows,
      maxDays: config.retention.max_days,
      log,
      readOnly: true,
      rowNumbers: true,
    });
    retainedRows = retained.rowNumbers();
    // (the retained rows of each run, only for the counts of ledgers of before)
    if (scored.hasCounts) retainedRuns = retained.runRows();
    retained.close();
  }
  const retainedOfRun = (run: string) => retainedRuns?.count(runNumber(run)) ?? 0;
  ledger.alsoKnown({
    row: (n) => scored.has(n) || Boolean(retainedRows?.has(n)),
    counted: scored.hasCounts ? (run) => scored.rowsCounted(run, retainedOfRun) : undefined,
  });
  // A run killed without warning may have saved subjects that learnt some of its rows (one
  // unloaded for the next, or part of the final save) and not its ledger: the next run learns
  // again only what no saved subject learnt (cli/run-journal.ts), as score does
  const journal = new RunJournal(config.state_dir, TRAINING_RUN);
  let shown = 0;
  let repeated = 0;
  for await (const batch of logBatches(files, stats, (msg) => shown++ < 5 && log('warn', `skipped ${msg}`), undefined, config.queue.max_line_bytes, skip)) {
    const fresh: ResultRow[] = [];
    for (const row of batch) {
      if (ledger.isNew(row)) fresh.push(row);
      else journal.known(ledger.numberOf(row));
    }
    repeated += batch.length - fresh.length;
    if (fresh.length) {
      const run = { epoch: journal.epoch, marks: journal.placesOf(fresh.map((row) => ledger.numberOf(row))) };
      // (the windows too under the rows' places: saved before the ledger, a run killed between
      // leaves them with its rows taken, and the rows resumed are not taken twice)
      windows.add(await scorer.scoreRows(fresh, run), run);
    }
    bar.update('learning', stats.rows, 0);
  }
  if (stats.rows === 0) throw new CliError(`${files.join(', ')}: no result rows found`, EXIT.dataerr);
  const already = `(the same rows, host, query, time and columns, as an earlier 'anomaly train' learned into ${config.state_dir}, or the extension or 'anomaly score' scored there)`;
  if (repeated === stats.rows) {
    bar.done();
    // a run killed once its ledger was saved left its journal: its rows all known, it is over
    // (kept, a later train of other logs would take them for rows it did not meet)
    if (!journal.unmet) journal.commit();
    throw new CliError(`${files.join(', ')}: all ${repeated.toLocaleString('en-US')} rows were already learned ${already}; nothing new to learn`, EXIT.dataerr);
  }
  if (repeated) log('warn', `skipped ${repeated.toLocaleString('en-US')} rows already learned ${already}`);
  bar.update('training models', 0, 1);
  await scorer.trainAll();
  // the logs are over: their last windows close, and each subject's windows are fitted on them.
  // Saved before the ledger: after it, a run killed between left the windows of its rows never
  // saved, and the next train of its logs found every row learnt (revchaos)
  windows.flush();
  windows.trainAll({ minimums: true });
  windows.save();
  scorer.save();
  ledger.save();
  const unmet = journal.unmet;
  const reordered = journal.outOfOrder;
  journal.commit();
  if (unmet) log('warn', killedRunUnmet(unmet, 'train'));
  if (reordered) log('warn', killedRunReordered(reordered, 'train'));
  bar.update('training models', 1, 1);
  const summaries = scorer.summaries();
  const subjects = new Map(summaries.map((s) => [s.subject, s]));
  const monitoring = [...subjects.values()].filter((s) => s.state === 'monitoring');
  bar.done();
  process.stdout.write(
    `learned ${(stats.rows - repeated).toLocaleString('en-US')} rows from ${stats.lines.toLocaleString('en-US')} lines` +
      (stats.errors ? ` (${stats.errors} lines skipped)` : '') +
      (stats.skipped
        ? ` (${stats.skipped.toLocaleString('en-US')} lines skipped as the extension skips them: its own tables' rows, queries the config ignores)`
        : '') +
      `: ${subjects.size} subjects, ${monitoring.length} monitoring (${monitoring.map((s) => cellText(s.subject)).join(', ') || 'none'}); tfjs backend ${scorer.backend}; state in ${config.state_dir}\n`,
  );
  // (subject names come from the rows' user columns: shown through cellText, as in a table)
  const learning = [...subjects.values()].filter((s) => s.state === 'learning');
  const bare = [...scorer.bareUidRows];
  if (bare.length) {
    const n = bare.reduce((a, [, k]) => a + k, 0);
    process.stdout.write(
      `${n.toLocaleString('en-US')} rows attributed to bare uids (${bare.map(([u, k]) => `${cellText(u)}: ${k}`).join(', ')}): no users snapshot or row names them (the extension carries each on under the name osqueryd's users table gives its uid)\n`,
    );
  }
  if (learning.length)
    process.stdout.write(
      `still learning (too little history to calibrate): ${learning.map((s) => `${cellText(s.subject)} (${s.events} events)`).join(', ')}\n`,
    );
  const byWindow = windows.monitoring();
  process.stdout.write(
    `windows of ${config.windows.seconds} s scored for ${byWindow.length ? byWindow.map(cellText).join(', ') : 'no subject yet (too little history to calibrate them)'}\n`,
  );
  return EXIT.ok;
}

async function trainFleet(flags: Record<string, unknown>): Promise<number> {
  if (flags.log) throw new CliError('train takes --log or --fleet, not both', EXIT.usage);
  const log = stderrLog(flags);
  const files = distinctInputs(flags.fleet as string[], 'learnt', log);
  const config = configFrom(flags);
  const out = path.resolve((flags.out as string | undefined) ?? path.join(config.state_dir, 'fleet.json'));
  // checked before the training, which takes minutes, and as one line, not a stack trace at the end
  const problem = fs.existsSync(out) && fs.statSync(out).isDirectory() ? `${out} is a directory` : writableDir(path.dirname(out));
  if (problem) throw new CliError(`cannot write the fleet prior to ${out}: ${problem}; pass --out FILE`, EXIT.cantcreat);
  const bar = progress(process.stderr, Boolean(flags.quiet));
  // the fleet prior is trained in memory: it must not touch the subjects in the state directory
  const scorer = await Scorer.open({ config: { ...config, baselines: { ...config.baselines, fleet_prior: '' } }, stateDir: null, log });
  const stats: RowStreamStats = { lines: 0, rows: 0, errors: 0, skipped: 0 };
  const hosts = new Set<string>();
  let shown = 0;
  for await (const batch of logBatches(
    files,
    stats,
    (msg) => shown++ < 5 && log('warn', `skipped ${msg}`),
    undefined,
    config.queue.max_line_bytes,
    (rows) => notScored(config, rows),
  )) {
    for (const row of batch) hosts.add(row.host);
    await scorer.learnFleet(batch);
    bar.update('learning', stats.rows, 0);
  }
  if (stats.rows === 0) throw new CliError(`${files.join(', ')}: no result rows found`, EXIT.dataerr);
  bar.update('training fleet prior', 0, 1);
  const fleet = await scorer.writeFleet(out);
  bar.done();
  if (!fleet.calibrated) throw new CliError(`${stats.rows} rows are too few to train and calibrate a fleet prior`, EXIT.dataerr);
  process.stdout.write(
    `fleet prior from ${stats.rows.toLocaleString('en-US')} rows of ${hosts.size} host${hosts.size === 1 ? '' : 's'}` +
      (stats.errors ? ` (${stats.errors} lines skipped)` : '') +
      ` written to ${out}; load it with the config key baselines.fleet_prior\n`,
  );
  return EXIT.ok;
}
