import { BAD_BELOW } from '../../scorer/calibration';

export interface Command {
  help: string;
  run(argv: string[]): Promise<number>;
}

/**
 * Each command's module loads only when that command runs (or shows its help): the models,
 * the emulator and the report's renderer take seconds to load, which `--help` need not wait for.
 */
export const COMMANDS: Record<string, { summary: string; load(): Command }> = {
  demo: { summary: 'run the extension on a generated multi-user stream with attacks, no osqueryd needed', load: () => require('./demo') },
  train: { summary: 'learn normal behaviour from osquery results logs', load: () => require('./train') },
  score: { summary: 'score results logs with the learned models', load: () => require('./score') },
  eval: { summary: 'measure detection on labelled data (sequences, syscall traces, osquery logs)', load: () => require('./eval') },
  report: { summary: 'write an HTML report of the retained scores', load: () => require('./report') },
  status: { summary: "show a running extension's models and ingest counters", load: () => require('./status') },
  feedback: { summary: 'label a scored event normal or anomalous in a running extension', load: () => require('./feedback') },
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
69 extension unavailable, 70 internal error, 73 cannot create (state or report directory),
74 I/O error, 75 state directory in use, 78 bad config.
`;
}
