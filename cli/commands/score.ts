import * as path from 'path';
import { Scorer } from '../../scorer/scorer';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';
import { WindowScorer, windowOptionsFrom } from '../../scorer/windows';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { checkInputFile, configFrom, holdState, jsonText, logBatches, STATE_FLAGS, stateHelp, stderrLog, table, type RowStreamStats } from './shared';
import { notScored } from '../../extension/own-output';

export const help = `Usage: anomaly score --log FILE... [options]

Score every row of osquery results logs with the models in the state directory and print
one anomaly_scores row per result row: JSON lines by default, or an osqueryi-style table.
Scored rows, and each subject's time windows as they close, are also retained in the state
directory (for 'anomaly report'), and good rows keep teaching the models, exactly as in the
extension. Windows still open at the end of the logs stay open for the next run.

Options:
  --log FILE...        results logs to score
  --format json|table  output format (default json)
  --only VERDICTS      comma-separated verdicts to print: bad, ugly, good, learning
                       (default all)
  --fail-on-bad        exit 1 when any row is bad (for scripts and CI)
${stateHelp(23)}`;

const VERDICTS = ['bad', 'ugly', 'good', 'learning'] as const;
const COLUMNS = ['time', 'subject', 'query', 'event', 'score', 'verdict', 'model', 'reasons'];

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, {
    ...STATE_FLAGS,
    log: { kind: 'many' },
    format: { kind: 'value' },
    only: { kind: 'value' },
    'fail-on-bad': { kind: 'bool' },
  });
  const files = (flags.log as string[] | undefined) ?? [];
  if (!files.length) throw new CliError('score needs --log FILE (see anomaly score --help)', EXIT.usage);
  const format = (flags.format as string | undefined) ?? 'json';
  if (format !== 'json' && format !== 'table') throw new CliError(`--format must be json or table, not ${JSON.stringify(format)}`, EXIT.usage);
  const only = flags.only ? new Set(String(flags.only).split(',')) : null;
  for (const v of only ?? [])
    if (!(VERDICTS as readonly string[]).includes(v)) throw new CliError(`--only: unknown verdict ${JSON.stringify(v)} (${VERDICTS.join(', ')})`, EXIT.usage);
  for (const f of files) checkInputFile(f);
  const config = configFrom(flags);
  holdState(config, 'anomaly score');
  const log = stderrLog(flags);
  const bar = progress(process.stderr, Boolean(flags.quiet));
  const scorer = await Scorer.open({ config, stateDir: config.state_dir, log });
  if (!scorer.summaries().some((m) => m.state === 'monitoring')) {
    throw new CliError(
      `no trained model in ${config.state_dir}: every row would only be learned, not scored; train first with: anomaly train --log FILE --state ${config.state_dir}`,
      EXIT.noinput,
    );
  }
  const retained = new RetainedScores({
    dir: path.join(config.state_dir, 'scores'),
    maxRows: config.retention.max_rows,
    maxDays: config.retention.max_days,
    log,
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
  try {
    for await (const batch of logBatches(
      files,
      stats,
      (msg) => log('warn', `skipped ${msg}`),
      undefined,
      config.queue.max_line_bytes,
      (rows) => notScored(config, rows),
    )) {
      const scored = await scorer.scoreRows(batch);
      retained.append(scored);
      retainedWindows.append(windows.add(scored));
      for (const s of scored) {
        if (s.verdict === 'bad') bad++;
        if (only && !only.has(s.verdict)) continue;
        if (format === 'json') process.stdout.write(`${jsonText(s)}\n`);
        else tableRows.push({ ...s, time: new Date(s.time * 1000).toISOString().replace('.000Z', 'Z'), score: s.score === null ? '' : s.score.toFixed(3) });
      }
      bar.update('scoring', stats.rows, 0);
    }
  } finally {
    retained.flush();
    retained.close();
    retainedWindows.close();
    scorer.save();
    windows.save();
  }
  // as train says: a file of other lines (syslog, osqueryd.INFO) is not an empty day of results
  if (stats.rows === 0 && stats.errors > 0) throw new CliError(`${files.join(', ')}: no result rows found (${stats.errors} lines skipped)`, EXIT.dataerr);
  bar.done(
    `scored ${stats.rows.toLocaleString('en-US')} rows (${bad} bad)${stats.errors ? `, ${stats.errors} lines skipped` : ''}${stats.skipped ? `, ${stats.skipped} lines of the extension's own tables or ignored queries skipped` : ''}`,
  );
  if (format === 'table') process.stdout.write(table(tableRows, COLUMNS));
  return flags['fail-on-bad'] && bad > 0 ? EXIT.findings : EXIT.ok;
}
