import * as os from 'os';
import * as path from 'path';
import { Scorer } from '../../scorer/scorer';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';
import { WindowScorer, windowOptionsFrom } from '../../scorer/windows';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { configFrom, distinctInputs, holdState, jsonText, lexists, logBatches, STATE_FLAGS, stateHelp, stderrLog, table, type RowStreamStats } from './shared';
import { notScored } from '../../extension/own-output';
import { SCORED_RUNS, TRAINED_RUNS, TrainLedger } from '../train-ledger';
import { killedRunReordered, killedRunUnmet, RunJournal, SCORING_RUN } from '../run-journal';
import { rowNumber, runNumber } from '../../state/retained-runs';
import type { ResultRow, ScoredEvent } from '../../scorer/types';

export const help = `Usage: anomaly score --log FILE... [options]

Score every row of osquery results logs with the models in the state directory and print
one anomaly_scores row per result row: JSON lines by default, or an osqueryi-style table.
Scored rows, and each subject's time windows as they close, are also retained in the state
directory (for 'anomaly report'), and good rows keep teaching the models, exactly as in the
extension. Windows still open at the end of the logs stay open for the next run. Rows scored
into the state before (the same host, query, time and columns), by this command or by the
extension, are printed as they were retained, not scored or learned again: scoring a growing
results log again, or a rotated one file by file, scores its new rows only. Rows 'anomaly
train' learned are scored, shown and retained, not learned again. Stopped by
Ctrl-C or SIGTERM, it finishes the batch under way and saves what it scored (exit 130, 143);
a second signal ends it at once. Killed without warning (SIGKILL, a power cut), the next score
of the same logs scores again the rows it had begun, learning each once and retaining it once.
Since good rows are learnt, a log another user could change (theirs, writable by everyone, or
in a folder they may write) is refused (exit 66), as train refuses it.

Options:
  --log FILE...        results logs to score
  --format json|table  output format (default json)
  --only VERDICTS      comma-separated verdicts to print: bad, ugly, good, learning
                       (default all)
  --fail-on-bad        exit 1 when any row is bad (for scripts and CI)
${stateHelp(23)}`;

const VERDICTS = ['bad', 'ugly', 'good', 'learning'] as const;
const COLUMNS = ['id', 'time', 'subject', 'query', 'event', 'score', 'verdict', 'model', 'reasons'];

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, {
    ...STATE_FLAGS,
    log: { kind: 'many' },
    format: { kind: 'value' },
    only: { kind: 'value' },
    'fail-on-bad': { kind: 'bool' },
  });
  const given = (flags.log as string[] | undefined) ?? [];
  if (!given.length) throw new CliError('score needs --log FILE (see anomaly score --help)', EXIT.usage);
  const format = (flags.format as string | undefined) ?? 'json';
  if (format !== 'json' && format !== 'table') throw new CliError(`--format must be json or table, not ${JSON.stringify(format)}`, EXIT.usage);
  const only = flags.only ? new Set(String(flags.only).split(',')) : null;
  for (const v of only ?? [])
    if (!(VERDICTS as readonly string[]).includes(v)) throw new CliError(`--only: unknown verdict ${JSON.stringify(v)} (${VERDICTS.join(', ')})`, EXIT.usage);
  const log = stderrLog(flags);
  const files = distinctInputs(given, 'learnt', log);
  const config = configFrom(flags, 'existing');
  const untrained = (why: string) =>
    new CliError(
      `no trained model in ${config.state_dir}${why}: every row would only be learned, not scored; train first with: anomaly train --log FILE --state ${config.state_dir}`,
      EXIT.noinput,
    );
  if (!lexists(config.state_dir)) throw untrained(' (no such directory)');
  holdState(config, 'anomaly score', log);
  const bar = progress(process.stderr, Boolean(flags.quiet));
  const scorer = await Scorer.open({ config, stateDir: config.state_dir, log });
  if (!scorer.summaries().some((m) => m.state === 'monitoring')) throw untrained('');
  const retained = new RetainedScores({
    dir: path.join(config.state_dir, 'scores'),
    maxRows: config.retention.max_rows,
    maxDays: config.retention.max_days,
    log,
    rowNumbers: true,
  });
  const windows = new WindowScorer(windowOptionsFrom(config, path.join(config.state_dir, 'windows'), log));
  const retainedWindows = new RetainedWindows({
    dir: path.join(config.state_dir, 'window-scores'),
    maxRows: config.retention.max_rows,
    maxDays: config.retention.max_days,
    log,
  });
  const stats: RowStreamStats = { lines: 0, rows: 0, errors: 0, skipped: 0 };
  const tableRows: Record<string, unknown>[] = [];
  let bad = 0;
  // A results log grows all day and is scored again (as a table, then as JSON; each morning
  // the whole file). A row scored again would be learnt twice and scored after the rows that
  // followed it; a row this state has scored is shown as it was scored and kept, instead.
  const ledger = new TrainLedger(config.state_dir, SCORED_RUNS, undefined, (msg) => log('warn', msg));
  // The ledger names the rows this command scored; the extension keeps none, and its rows
  // scored again (the filesystem log osqueryd writes beside the anomaly logger) were learnt
  // twice. They are known by the rows retained when this command began.
  const retainedRows = retained.rowNumbers();
  const retainedRuns = ledger.hasCounts ? retained.runRows() : null;
  // ... but not the rows a run of this command killed without warning (SIGKILL, a power cut)
  // retained and never committed to its ledger: it may have died before the subjects that
  // learnt them were saved. They are scored again, learnt by the subjects that had not saved
  // them, and retained once (cli/run-journal.ts).
  const journal = new RunJournal(config.state_dir, SCORING_RUN);
  ledger.alsoKnown({
    row: (n) => retainedRows.has(n) && !journal.leftByCrash(n),
    retainedOfRun: retainedRuns ? (run) => retainedRuns.count(runNumber(run)) : undefined,
  });
  // Rows `anomaly train` learnt (its ledger, only read here) are scored, shown and retained
  // like any other, but not learnt again: `train --log F` then `score --log F` learnt every
  // row of F twice (rev11). Nor are they given to the windows, which train fed and closed
  // (they would be late rows). Noted in this command's ledger too, as scored.
  const trained = new TrainLedger(config.state_dir, TRAINED_RUNS, undefined, (msg) => log('warn', msg));
  let fresh = 0;
  let shownAgain = 0;
  let goneAgain = 0;
  /** rows scored again that a killed run had scored */
  let resumed = 0;
  const show = (events: readonly ScoredEvent[]) => {
    // (a row the extension retained carries its place in its queue: not part of the row shown)
    for (const { queued: _queued, ...s } of events) {
      if (s.verdict === 'bad') bad++;
      if (only && !only.has(s.verdict)) continue;
      if (format === 'json') process.stdout.write(`${jsonText(s)}\n`);
      else tableRows.push({ ...s, time: new Date(s.time * 1000).toISOString().replace('.000Z', 'Z'), score: s.score === null ? '' : s.score.toFixed(3) });
    }
  };
  // Stopped (Ctrl-C, a service manager's SIGTERM) in the middle, the command left the rows of
  // its batches so far retained and neither the subjects that learnt them nor the ledger
  // saved: the next score showed them as scored, and their good rows were never learnt. The
  // batch under way is finished and everything saved, as at the end; a second signal ends the
  // command at once, as before.
  let stoppedBy: NodeJS.Signals | null = null;
  const stop = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  /** a batch is begun (its rows in the journal) and not yet kept (retained and in the ledger) */
  let begun = false;
  try {
    for await (const batch of logBatches(
      files,
      stats,
      (msg) => log('warn', `skipped ${msg}`),
      undefined,
      config.queue.max_line_bytes,
      (rows) => notScored(config, rows),
    )) {
      if (stoppedBy) break;
      const news: ResultRow[] = [];
      const known: ResultRow[] = [];
      const learnt: boolean[] = [];
      for (const row of batch) {
        // (both ledgers meet every row, in order: each counts identical rows of a second over all)
        const wasTrained = trained.knows(row);
        if (ledger.knows(row)) known.push(row);
        else {
          news.push(row);
          learnt.push(wasTrained);
        }
      }
      if (known.length) {
        for (const row of known) journal.known(ledger.numberOf(row));
        const earlier = retainedRowsOf(retained, known, (row) => ledger.numberOf(row));
        shownAgain += earlier.shown.length;
        goneAgain += earlier.gone;
        show(earlier.shown);
      }
      if (news.length) {
        // (written before they are scored: a subject unloaded on the way saves what it learnt of them)
        const numbers = news.map((row) => ledger.numberOf(row));
        begun = true;
        const marks = journal.placesOf(numbers);
        // (under the ids the ledger counted over every row read, the known ones too)
        let scored = await scorer.scoreRows(
          news,
          { epoch: journal.epoch, marks },
          news.map((row) => ledger.idOf(row)),
          learnt.some(Boolean) ? learnt : undefined,
        );
        fresh += scored.length;
        resumed += numbers.filter((n) => journal.leftByCrash(n)).length;
        if (journal.resumed) scored = retainedOnce(retained, scored, numbers, (n) => journal.leftByCrash(n) && retainedRows.has(n));
        else retained.append(scored);
        // Under the rows' places in the run, as the extension gives the queue's: the windows
        // saved in the `finally` with a batch not kept (the store refused its closed windows, a
        // kill before the ledger was saved) had taken its rows, and the next run gave them again:
        // 1,984 rows counted late, a window still open counted twice (revchaos)
        const closed = windows.add(
          scored.filter((_, i) => !learnt[i]),
          { epoch: journal.epoch, marks: marks.filter((_, i) => !learnt[i]) },
        );
        try {
          retainedWindows.append(closed);
        } catch (err) {
          // (a window closes once: the run that resumes this batch closes none of them again)
          log('error', `${closed.length} closed windows not retained in anomaly_windows, and lost: ${(err as Error).message}`);
          throw err;
        }
        // noted once kept: a batch that failed is not taken for scored by the next run
        for (const row of news) ledger.note(row);
        begun = false;
        show(scored);
      }
      bar.update('scoring', stats.rows, 0);
    }
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    retained.flush();
    retained.close();
    retainedWindows.close();
    scorer.save();
    windows.save();
    // after the scores are kept: a row in the ledger whose score was lost would be shown as
    // nothing the next time, while a row scored and kept but not in the ledger is scored again
    ledger.save();
    // (reached only once everything above is saved: a throw leaves the run to the next one.
    // So does a batch that threw out of the loop once begun, its rows scored and learnt but
    // not retained nor in the ledger (a full disk refused the segment's write and took the
    // smaller files above): the journal names them, so that the next run retains them and
    // learns only what no saved subject learnt; committed, it learnt them twice (chaos3). A
    // throw between batches (a log found not to be results) leaves nothing begun: committed)
    if (!begun) {
      const unmet = journal.unmet;
      const reordered = journal.outOfOrder;
      journal.commit();
      if (unmet) log('warn', killedRunUnmet(unmet, 'score'));
      if (reordered) log('warn', killedRunReordered(reordered, 'score'));
    }
  }
  const stopped = stoppedBy as NodeJS.Signals | null;
  // as train says: a file of other lines (syslog, osqueryd.INFO) is not an empty day of results
  if (!stopped && stats.rows === 0 && stats.errors > 0)
    throw new CliError(`${files.join(', ')}: no result rows found (${stats.errors} lines skipped)`, EXIT.dataerr);
  const count = (n: number) => n.toLocaleString('en-US');
  const skipped =
    (resumed
      ? `; ${count(resumed)} of them were begun by a run that ended before it finished (killed, or stopped by an error such as a full disk): learnt now where it had not saved them, and retained once`
      : '') +
    `${stats.errors ? `, ${stats.errors} lines skipped` : ''}${stats.skipped ? `, ${stats.skipped} lines of the extension's own tables or ignored queries skipped` : ''}` +
    (stopped ? `; stopped by ${stopped} (what was scored is saved): the rest of the logs is scored the next time` : '');
  // Rows scored before that are not retained are neither shown nor counted as shown; and a
  // store that could not read some of its files at this start is named, not put down to
  // retention (its rows are gone to the damage as much as to max_rows or max_days).
  const gone = !goneAgain
    ? ''
    : retained.unreadableAtLoad
      ? `; ${count(goneAgain)} rows scored before were not shown, nor scored or learned again: they are not in the retained scores, ${retained.unreadableAtLoad} of whose files could not be read at this start (see above), or retention's max_rows or max_days dropped them`
      : `; ${count(goneAgain)} rows scored before were not shown, nor scored or learned again: no longer retained (retention's max_rows or max_days)`;
  bar.done(
    shownAgain || goneAgain
      ? `scored ${count(fresh)} rows` +
          (shownAgain
            ? ` and showed ${count(shownAgain)} rows of query runs scored before into ${config.state_dir} (by the extension or an earlier score) as they were retained, not scored or learned again`
            : '') +
          `${gone}; ${bad} bad ${goneAgain ? 'among the rows scored and shown' : 'in all'}${skipped}`
      : `scored ${count(fresh)} rows (${bad} bad)${skipped}`,
  );
  if (format === 'table') process.stdout.write(table(tableRows, COLUMNS));
  // (the shell's code for a command a signal ended: 130 for SIGINT, 143 for SIGTERM)
  if (stopped) return 128 + os.constants.signals[stopped];
  return flags['fail-on-bad'] && bad > 0 ? EXIT.findings : EXIT.ok;
}

/**
 * `scored` retained, but for the rows a killed run retained already (`before`, by the number
 * of each row's id, parallel to `numbers`): those stay as they were retained, and are shown so
 */
function retainedOnce(retained: RetainedScores, scored: readonly ScoredEvent[], numbers: readonly number[], before: (n: number) => boolean): ScoredEvent[] {
  const again = scored.filter((_, i) => before(numbers[i]));
  if (!again.length) {
    retained.append(scored);
    return [...scored];
  }
  retained.append(scored.filter((_, i) => !before(numbers[i])));
  const kept = new Map<number, ScoredEvent>();
  for (const ev of retained.matching({ id: again.map((e) => e.id) })) if (!kept.has(rowNumber(ev.id))) kept.set(rowNumber(ev.id), ev);
  return scored.map((ev, i) => (before(numbers[i]) ? (kept.get(numbers[i]) ?? ev) : ev));
}

/**
 * The retained scores of `rows`, rows scored before (`numberOf`: the number of each row's id,
 * as the ledger met it), in the order of the rows; `gone` counts the rows not retained. Each
 * row is shown once, as it was scored: not the rest of its run, which the log may not hold.
 * One read of the store per batch, bounded by the batch's times: the store has no index by
 * id, and a read per row over a million retained rows would cost a scan each.
 */
function retainedRowsOf(retained: RetainedScores, rows: readonly ResultRow[], numberOf: (row: ResultRow) => number): { shown: ScoredEvent[]; gone: number } {
  const wanted = new Map<number, ScoredEvent[]>();
  for (const row of rows) wanted.set(numberOf(row), []);
  let from = Infinity;
  let to = -Infinity;
  for (const r of rows) {
    from = Math.min(from, r.time);
    to = Math.max(to, r.time);
  }
  const kept = retained.matching({
    host: [...new Set(rows.map((r) => r.host))],
    query: [...new Set(rows.map((r) => r.query))],
    time: [
      { op: '>=', value: from },
      { op: '<=', value: to },
    ],
  });
  // (newest first from the store: a row retained twice is shown as it was first scored)
  for (const ev of kept) wanted.get(rowNumber(ev.id))?.unshift(ev);
  const shown: ScoredEvent[] = [];
  let gone = 0;
  for (const row of rows) {
    const ev = wanted.get(numberOf(row))?.shift();
    if (ev) shown.push(ev);
    else gone++;
  }
  return { shown, gone };
}
