import * as path from 'path';
import { writeReport } from '../../report/report';
import { Scorer } from '../../scorer/scorer';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';
import { parseFlags } from '../flags';
import { CliError, EXIT } from '../exit';
import { configFrom, STATE_FLAGS, STATE_HELP, stderrLog } from './shared';

export const help = `Usage: anomaly report --out DIR [options]

Write a self-contained HTML report (DIR/index.html) of the retained scores in the state
directory: per-subject score timelines, the top anomalies with their reasons, the score
distribution with the 0.3 and 0.7 lines, and the model states.

Options:
  --out DIR        where to write index.html
  --title TEXT     report title
${STATE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { ...STATE_FLAGS, out: { kind: 'value' }, title: { kind: 'value' } });
  if (!flags.out) throw new CliError('report needs --out DIR', EXIT.usage);
  const config = configFrom(flags);
  const log = stderrLog(flags);
  const retained = new RetainedScores({ dir: path.join(config.state_dir, 'scores'), maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log });
  const scores = retained.select({});
  retained.close();
  const retainedWindows = new RetainedWindows({ dir: path.join(config.state_dir, 'window-scores'), maxRows: config.retention.max_rows, maxDays: config.retention.max_days, log });
  const windows = retainedWindows.select({});
  retainedWindows.close();
  if (!scores.length) throw new CliError(`no retained scores in ${config.state_dir}; run 'anomaly score' or the extension first`, EXIT.noinput);
  const scorer = await Scorer.open({ config, stateDir: config.state_dir, log });
  const file = await writeReport(path.resolve(flags.out as string), { scores, windows, models: scorer.summaries(), generated: Math.floor(Date.now() / 1000), title: flags.title as string | undefined });
  process.stdout.write(`report written to ${file}\n`);
  return EXIT.ok;
}
