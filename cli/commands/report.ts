import * as path from 'path';
import { BAD_BELOW, GOOD_FROM } from '../../scorer/calibration';
import { writeReport } from '../../report/report';
import { Scorer } from '../../scorer/scorer';
import type { ScoredEvent } from '../../scorer/types';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';
import { parseFlags } from '../flags';
import { CliError, EXIT } from '../exit';
import { configFrom, lexists, STATE_FLAGS, STATE_HELP, stderrLog, writableDir } from './shared';

export const help = `Usage: anomaly report [--out DIR] [options]

Write a self-contained HTML report (DIR/index.html) of the retained scores in the state
directory: per-subject score timelines, the top anomalies with their reasons, the score
distribution with the ${BAD_BELOW} and ${GOOD_FROM} lines, and the model states.

Options:
  --out DIR        where to write index.html (default ./anomaly-report); created if
                   missing, and must be a directory
  --title TEXT     report title
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { ...STATE_FLAGS, out: { kind: 'value' }, title: { kind: 'value' } });
  const outDir = path.resolve((flags.out as string | undefined) ?? 'anomaly-report');
  // only read: the state directory is not made (a mistyped --state was, as root) nor need it
  // be writable (it may be on a read-only mount); what is read is read without following links
  const config = configFrom(flags, 'read');
  // --out is checked before the state is read (a report that cannot be written is said first),
  // and made only once there is a report to write: a missing state left an empty folder
  const checkOut = (create: boolean) => {
    const problem = writableDir(outDir, 0o755, create);
    if (problem) throw new CliError(`cannot write the report into ${outDir}: ${problem}`, EXIT.cantcreat);
  };
  checkOut(false);
  // a --state or state_dir mistyped read as an empty state
  if (!lexists(config.state_dir))
    throw new CliError(
      `no retained scores in ${config.state_dir} (no such directory); pass --state DIR, or run 'anomaly score' or the extension first`,
      EXIT.noinput,
    );

  const log = stderrLog(flags);
  // read-only: the extension may be running, appending to these very files
  const retention = { maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log, readOnly: true };
  const retained = new RetainedScores({ dir: path.join(config.state_dir, 'scores'), ...retention });
  // the report shows no row's columns, and they are most of a row (up to ~4 kB each, a local
  // user's long command lines): kept, a million retained rows (retention.max_rows) took GBs
  const scores: ScoredEvent[] = [];
  for (const s of retained.matching({})) scores.push({ ...s, columns: '' });
  retained.close();
  const retainedWindows = new RetainedWindows({ dir: path.join(config.state_dir, 'window-scores'), ...retention });
  const windows = retainedWindows.select({});
  retainedWindows.close();
  if (!scores.length) throw new CliError(`no retained scores in ${config.state_dir}; run 'anomaly score' or the extension first`, EXIT.noinput);
  checkOut(true);
  // read-only as well: a subject file it cannot load is named, in the report too, and left
  // where it is (opened as the extension opens it, it was moved to quarantine/)
  const scorer = await Scorer.open({ config, stateDir: config.state_dir, log, readOnly: true });
  let file: string;
  try {
    file = await writeReport(outDir, {
      scores,
      windows,
      models: scorer.summaries(),
      unreadable: scorer.unreadable,
      generated: Math.floor(Date.now() / 1000),
      title: flags.title as string | undefined,
    });
  } catch (err) {
    throw new CliError(`cannot write the report into ${outDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, EXIT.ioerr);
  }
  process.stdout.write(`report written to ${file}\n`);
  return EXIT.ok;
}
