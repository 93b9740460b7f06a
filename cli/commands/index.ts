import { BAD_BELOW } from '../../scorer/calibration';
import * as train from './train';
import * as score from './score';
import * as evaluate from './eval';
import * as report from './report';
import * as status from './status';
import * as feedback from './feedback';
import * as demo from './demo';

export interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  demo: { summary: 'run the extension on a generated multi-user stream with attacks, no osqueryd needed', ...demo },
  train: { summary: 'learn normal behaviour from osquery results logs', ...train },
  score: { summary: 'score results logs with the learned models', ...score },
  eval: { summary: 'measure detection on labelled data (sequences, syscall traces, osquery logs)', ...evaluate },
  report: { summary: 'write an HTML report of the retained scores', ...report },
  status: { summary: "show a running extension's models and ingest counters", ...status },
  feedback: { summary: 'label a scored event normal or anomalous in a running extension', ...feedback },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `Usage: anomaly <command> [options]

anomaly.ext learns how each user and host of an osquery fleet normally behaves and scores
every result row (1 = normal; below ${BAD_BELOW} is bad).

Commands:
${Object.entries(COMMANDS)
  .map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run 'anomaly <command> --help' for its options.
Exit codes: 0 ok, 1 findings (--fail-on-bad), 64 usage, 65 bad input data, 66 missing input,
69 extension unavailable, 70 internal error, 73 state not writable, 78 bad config.
`;
}
