import * as fs from 'fs';
import { BAD_BELOW, type Combination } from '../../scorer/calibration';
import { readConfigJson, resolveConfig } from '../../conf/config';
import { runEval } from '../../scorer/eval/run';
import { DatasetError } from '../../scorer/eval/datasets';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { cellText, checkInputFile, jsonText, stderrLog } from './shared';
import { untrustedPlace } from '../../extension/statedir';

export const help = `Usage: anomaly eval --train TRAIN --test TEST [--unit row|window] [--json] [--models LIST]
                    [--out FILE] [--combine HOW] [--config FILE] [--quiet]

Train exactly as the product does on TRAIN, score every unit of TEST, and report detection
at the product's threshold (score < ${BAD_BELOW} is bad). The input kind is read from TEST:
  sequences       TRAIN one sequence of keys per line; TEST a CSV 'Sequence,label' (0/1)
  syscall traces  ADFA-LD TSV(.gz): split label attack_type trace_id n_calls syscalls
  osquery logs    results logs whose lines carry "label": "normal" | "anomalous"
A session or trace gets one score, calibrated over held-out normal sessions, so ${BAD_BELOW} means
the same as for a row. With --unit window, osquery logs are scored by each subject's time
windows (config windows.seconds, default 600) as anomaly_windows scores them; a window counts
as anomalous when most of its labelled rows are.

Options:
  --train FILE   training data (normal behaviour)
  --test FILE    labelled test data
  --unit UNIT    osquery logs: score each row (row, default) or each window (window)
  --json         print the metrics as one JSON object on the last line
  --out FILE     with --unit window: write each window evaluated to FILE, one JSON
                 object a line (subject, host, start, end, events, score, verdict,
                 model, reasons, and its labelled and anomalous rows)
  --models LIST  comma-separated models to use (default rarity,ocsvm,lstm; for key
                 sequences and syscall traces also sets, each session's distance to
                 the nearest training key set, and for key sequences counts, each
                 session's key-count profile); ngram, the Kneser-Ney key language
                 model, only when named. A list names every statistic it wants
  --combine HOW  sessions and traces: a unit's statistics combine by the strongest
                 p-value, as a row's do (strongest, default) or by Fisher's sum of
                 −log p (fisher)
  --config FILE  config (models, learning minimums) for osquery logs
  --quiet        no progress output
`;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, {
    train: { kind: 'value' },
    test: { kind: 'value' },
    json: { kind: 'bool' },
    models: { kind: 'value' },
    config: { kind: 'value' },
    quiet: { kind: 'bool' },
    unit: { kind: 'value' },
    combine: { kind: 'value' },
    out: { kind: 'value' },
  });
  const unit = (flags.unit as string | undefined) ?? 'row';
  if (unit !== 'row' && unit !== 'window') throw new CliError(`--unit: expected row or window, found ${JSON.stringify(unit)}`, EXIT.usage);
  const combination = flags.combine as Combination | undefined;
  if (combination !== undefined && combination !== 'strongest' && combination !== 'fisher')
    throw new CliError(`--combine: expected strongest or fisher, found ${JSON.stringify(combination)}`, EXIT.usage);
  if (flags.out !== undefined && unit !== 'window') throw new CliError('--out lists windows: it needs --unit window', EXIT.usage);
  if (!flags.train || !flags.test) throw new CliError('eval needs --train FILE and --test FILE (see anomaly eval --help)', EXIT.usage);
  for (const f of [flags.train as string, flags.test as string]) {
    if (!fs.existsSync(f))
      throw new CliError(
        `${f}: no such file (the evaluation data sets are not part of the repository: docs/evaluation.md says where each comes from)`,
        EXIT.noinput,
      );
    checkInputFile(f);
  }
  const raw = (flags.config ? readConfigJson(flags.config as string) : {}) as Record<string, unknown>;
  let keyCounts: boolean | undefined;
  let keySets: boolean | undefined;
  if (flags.models) {
    const wanted = String(flags.models).split(',');
    for (const m of wanted)
      if (!['rarity', 'ocsvm', 'lstm', 'ngram', 'counts', 'sets'].includes(m))
        throw new CliError(`--models: unknown model ${JSON.stringify(m)} (rarity, ocsvm, lstm, ngram, counts, sets)`, EXIT.usage);
    raw.models = { rarity: wanted.includes('rarity'), ocsvm: wanted.includes('ocsvm'), lstm: wanted.includes('lstm'), ngram: wanted.includes('ngram') };
    keyCounts = wanted.includes('counts');
    keySets = wanted.includes('sets');
  }
  const config = resolveConfig(raw, (flags.config as string) ?? '--models');
  const bar = progress(process.stderr, Boolean(flags.quiet));
  // each window as it is evaluated, so that a listing of thousands is not held twice
  const listing = flags.out ? openListing(flags.out as string) : null;
  let result;
  try {
    result = await runEval({
      train: flags.train as string,
      test: flags.test as string,
      config,
      unit,
      keyCounts,
      keySets,
      combination,
      onProgress: (s, d, t) => bar.update(s, d, t),
      log: stderrLog(flags),
      onWindow:
        listing === null
          ? undefined
          : (w, labelled) => fs.writeSync(listing, jsonText({ ...w, labelled_rows: labelled.rows, anomalous_rows: labelled.anomalous }) + '\n'),
    });
  } catch (err) {
    if (err instanceof DatasetError) throw new CliError(err.message, EXIT.dataerr);
    throw err;
  } finally {
    if (listing !== null) fs.closeSync(listing);
  }
  bar.done();
  const lines = [
    `${result.kind}${result.unit === 'window' ? ' by window' : ''}: ${result.n} test units (${result.anomalies} anomalous), trained on ${result.train_units}; models ${result.models.join(', ')}${result.backend ? ` (tfjs ${result.backend})` : ''}; ${result.seconds} s`,
    `at score < ${BAD_BELOW}: precision ${result.precision}, recall ${result.recall}, F1 ${result.f1}, FPR ${result.fpr}; AUC ${result.auc}`,
    `normal units below 0.3 / 0.5 / 0.7: ${pct(result.normal_below['0.3'])} / ${pct(result.normal_below['0.5'])} / ${pct(result.normal_below['0.7'])} (contract: 0.16 % / 1 % / 6.3 %)`,
  ];
  if (result.per_type)
    lines.push(
      `recall per type: ${Object.entries(result.per_type)
        // the types are the test file's own text (a query name, an attack type)
        .map(([k, v]) => `${cellText(k)} ${v.recall} (${v.n})`)
        .join(', ')}`,
    );
  process.stdout.write(lines.join('\n') + '\n');
  if (flags.json) process.stdout.write(jsonText(result) + '\n');
  return EXIT.ok;
}

/**
 * the --out file, opened before the evaluation starts so that a wrong path costs no training.
 * As report --out and --state: nothing on the way may be another user's to change (run as
 * root, a link eve put at /home/eve/w.jsonl had the listing truncate and fill the file it names)
 */
function openListing(file: string): number {
  const untrusted = untrustedPlace(file);
  if (untrusted) throw new CliError(`cannot write the window listing to ${file}: ${untrusted}`, EXIT.cantcreat);
  try {
    // 0600 whatever the umask, and an earlier listing's mode too: it holds the subjects,
    // reasons and row ids of the logs evaluated, every user's activity when they are a host's
    const fd = fs.openSync(file, 'w', 0o600);
    fs.fchmodSync(fd, 0o600);
    return fd;
  } catch (err) {
    throw new CliError(`cannot write the window listing to ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, EXIT.cantcreat);
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)} %`;
}
