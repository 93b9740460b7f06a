import * as fs from 'fs';
import * as path from 'path';
import { loadConfig, type AnomalyConfig } from '../../conf/config';
import { readResultLogs } from '../../scorer/parse/results';
import type { LogFn } from '../../scorer/scorer';
import type { ResultRow } from '../../scorer/types';
import { CliError, EXIT } from '../exit';

export const STATE_FLAGS = {
  state: { kind: 'value' },
  config: { kind: 'value' },
  verbose: { kind: 'bool' },
  quiet: { kind: 'bool' },
} as const;

export const STATE_HELP = `  --state DIR      state directory (default: ANOMALY_STATE_DIR, else the config's
                   state_dir, else /var/osquery/anomaly)
  --config FILE    config file (default: ANOMALY_CONFIG, else /etc/osquery/anomaly.json)
  --verbose        log debug messages to stderr
  --quiet          no progress output
`;

/** config with the state directory the flags ask for, checked to be writable */
export function configFrom(flags: Record<string, unknown>, needWritableState = true): AnomalyConfig {
  const config = loadConfig(flags.config as string | undefined);
  if (flags.state) config.state_dir = path.resolve(flags.state as string);
  if (needWritableState) {
    try {
      fs.mkdirSync(config.state_dir, { recursive: true });
      fs.accessSync(config.state_dir, fs.constants.W_OK);
    } catch (err) {
      throw new CliError(
        `state directory ${config.state_dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass --state DIR or set ANOMALY_STATE_DIR`,
        EXIT.cantcreat,
      );
    }
  }
  return config;
}

export function stderrLog(flags: Record<string, unknown>): LogFn {
  const verbose = Boolean(flags.verbose);
  return (level, msg) => {
    if (level === 'debug' && !verbose) return;
    process.stderr.write(`${level}: ${msg}\n`);
  };
}

export interface RowStreamStats {
  lines: number;
  rows: number;
  errors: number;
}

/**
 * Rows of the given results logs in batches. A missing file is an error up front; a bad line
 * is reported with its file and line and skipped, as the extension would count it rejected.
 */
export async function* rowBatches(files: readonly string[], stats: RowStreamStats, onBadLine: (msg: string) => void, size = 2000): AsyncGenerator<ResultRow[]> {
  for (const f of files) {
    if (!fs.existsSync(f)) throw new CliError(`${f}: no such file`, EXIT.noinput);
  }
  let batch: ResultRow[] = [];
  for await (const item of readResultLogs([...files])) {
    stats.lines++;
    if (item.error) {
      stats.errors++;
      const msg = item.error.message;
      if (/not osquery results output/.test(msg)) throw new CliError(msg, EXIT.dataerr);
      onBadLine(msg);
      continue;
    }
    for (const row of item.rows ?? []) {
      stats.rows++;
      batch.push(row);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length) yield batch;
}

export function fileSizes(files: readonly string[]): number {
  let total = 0;
  for (const f of files) {
    try {
      total += fs.statSync(f).size;
    } catch {
      /* reported when the file is opened */
    }
  }
  return total;
}

/** print rows as osqueryi prints a result set */
export function table(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[], maxWidth = 80): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s;
  };
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [rule, line([...columns]), rule, ...rows.map((r) => line(columns.map((c) => cell(r[c])))), rule].join('\n') + '\n';
}
