import * as path from 'path';
import { Scorer } from '../../scorer/scorer';
import { WindowScorer, windowOptionsFrom } from '../../scorer/windows';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { TrainLedger } from '../train-ledger';
import { checkInputFile, configFrom, logBatches, STATE_FLAGS, STATE_HELP, stderrLog, type RowStreamStats } from './shared';

export const help = `Usage: anomaly train --log FILE... [options]

Learn each subject's normal behaviour from osquery results logs and save the models in the
state directory, so that the extension (or 'anomaly score') starts out monitoring.
Accepts JSON lines as osqueryd's filesystem logger writes them (event and batch formats,
snapshots), JSON-array exports, and .gz files of either.

Options:
  --log FILE...    results logs to learn from (repeatable)
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { ...STATE_FLAGS, log: { kind: 'many' } });
  const files = (flags.log as string[] | undefined) ?? [];
  if (!files.length) throw new CliError('train needs --log FILE (see anomaly train --help)', EXIT.usage);
  for (const f of files) checkInputFile(f);
  const config = configFrom(flags);
  const log = stderrLog(flags);
  const bar = progress(process.stderr, Boolean(flags.quiet));
  const scorer = await Scorer.open({ config, stateDir: config.state_dir, log });
  const windows = new WindowScorer(windowOptionsFrom(config, path.join(config.state_dir, 'windows'), log));
  const stats: RowStreamStats = { lines: 0, rows: 0, errors: 0 };
  const ledger = new TrainLedger(config.state_dir);
  let shown = 0;
  let repeated = 0;
  for await (const batch of logBatches(files, stats, (msg) => shown++ < 5 && log('warn', `skipped ${msg}`))) {
    const fresh = batch.filter((row) => ledger.isNew(row));
    repeated += batch.length - fresh.length;
    if (fresh.length) windows.add(await scorer.scoreRows(fresh));
    bar.update('learning', stats.rows, 0);
  }
  if (stats.rows === 0) throw new CliError(`${files.join(', ')}: no result rows found`, EXIT.dataerr);
  const already = `(same host, query and time as rows an earlier 'anomaly train' learned into ${config.state_dir})`;
  if (repeated === stats.rows) {
    bar.done();
    throw new CliError(`${files.join(', ')}: all ${repeated.toLocaleString('en-US')} rows were already learned ${already}; nothing new to learn`, EXIT.dataerr);
  }
  if (repeated) log('warn', `skipped ${repeated.toLocaleString('en-US')} rows already learned ${already}`);
  bar.update('training models', 0, 1);
  await scorer.trainAll();
  scorer.save();
  ledger.save();
  // the logs are over: their last windows close, and each subject's windows are fitted on them
  windows.flush();
  windows.trainAll();
  windows.save();
  bar.update('training models', 1, 1);
  const summaries = scorer.summaries();
  const subjects = new Map(summaries.map((s) => [s.subject, s]));
  const monitoring = [...subjects.values()].filter((s) => s.state === 'monitoring');
  bar.done();
  process.stdout.write(
    `learned ${(stats.rows - repeated).toLocaleString('en-US')} rows from ${stats.lines.toLocaleString('en-US')} lines` +
      (stats.errors ? ` (${stats.errors} lines skipped)` : '') +
      `: ${subjects.size} subjects, ${monitoring.length} monitoring (${monitoring.map((s) => s.subject).join(', ') || 'none'}); tfjs backend ${scorer.backend}; state in ${config.state_dir}\n`,
  );
  const learning = [...subjects.values()].filter((s) => s.state === 'learning');
  if (learning.length) process.stdout.write(`still learning (too little history to calibrate): ${learning.map((s) => `${s.subject} (${s.events} events)`).join(', ')}\n`);
  const byWindow = windows.monitoring();
  process.stdout.write(`windows of ${config.windows.seconds} s scored for ${byWindow.length ? byWindow.join(', ') : 'no subject yet (too little history to calibrate them)'}\n`);
  return EXIT.ok;
}
