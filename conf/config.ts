import * as fs from 'fs';
import * as path from 'path';
import type { ValidateFunction } from 'ajv';
import { untrustedFile } from '../state/atomic';
import { jsonFault } from './json-fault';
import { MAX_LINE_BYTES } from '../scorer/parse/results';
import type { LogLevel } from './log';

// The extension's own configuration. osqueryd passes an autoloaded extension only its own
// flags, so the extension reads this file itself (design doc, Lifecycle).

export interface QueryOverride {
  subject?: string;
  key?: string[];
  ignore?: boolean;
}

export interface AnomalyConfig {
  state_dir: string;
  log_level: LogLevel;
  retention: { max_rows: number; max_days: number };
  learning: { min_events: number; min_days: number };
  retrain: { interval_seconds: number; window_events: number };
  /** anomaly_windows: window length, and how long a window waits for late rows after its end */
  windows: { seconds: number; grace_seconds: number };
  /** `ngram`: the Kneser-Ney key language model; off by default for rows (sequence evaluations name it in --models) */
  models: { rarity: boolean; ocsvm: boolean; lstm: boolean; ngram: boolean };
  queue: { max_bytes: number; max_line_bytes: number };
  queries: Record<string, QueryOverride>;
  baselines: BaselineConfig;
  /** CPU limit (% of all cores per 3 s) the scorer paces to, null: osqueryd's watchdog limit;
   * and the scorer thread's CPU one slice of rows may take before its lines are retried and a
   * line over it alone is set aside; and the threads a subject's training may use unpaced */
  budget: { cpu_percent: number | null; row_cpu_ms: number; training_threads: number };
  /** subjects whose models stay loaded; the least recently active others wait in their files */
  memory: { resident_subjects: number; max_subjects: number };
}

/** design.md, "Baselines: no blind subjects" */
export interface BaselineConfig {
  /** score subjects still learning against their host's pooled baseline */
  host: boolean;
  /** one model per user per host; false pools a user's rows from every host into one subject */
  per_host_users: boolean;
  /** a fleet prior written by `anomaly train --fleet`; '' when none */
  fleet_prior: string;
}

export const DEFAULT_CONFIG_PATH = '/etc/osquery/anomaly.json';
export const DEFAULT_STATE_DIR = '/var/osquery/anomaly';

export const DEFAULTS: AnomalyConfig = {
  state_dir: DEFAULT_STATE_DIR,
  log_level: 'info',
  retention: { max_rows: 1_000_000, max_days: 30 },
  learning: { min_events: 1000, min_days: 1 },
  retrain: { interval_seconds: 6 * 3600, window_events: 20_000 },
  // osqueryd logs a query's rows once an interval (60 s for the shipped packs' shortest)
  windows: { seconds: 600, grace_seconds: 60 },
  models: { rarity: true, ocsvm: true, lstm: true, ngram: false },
  queue: { max_bytes: 256 * 1024 * 1024, max_line_bytes: MAX_LINE_BYTES },
  queries: {},
  baselines: { host: true, per_host_users: true, fleet_prior: '' },
  // well above the longest step of training that cannot be sliced (libsvm's fit: about 2 s)
  budget: { cpu_percent: null, row_cpu_ms: 10_000, training_threads: 1 },
  // 1–2 MB resident each with a few hundred events in its window (docs/benchmarks.md): 50 stay well inside the watchdog's 200 MB
  // a subject unloaded costs about 4 kB of heap and 3 kB of file (measured: 5,000 of one row, 21 MB
  // and 13 MB): 10,000 stay far inside the watchdog's 200 MB whoever floods distinct uids
  memory: { resident_subjects: 50, max_subjects: 10_000 },
};

export class ConfigError extends Error {
  /** `missing`: the named file does not exist (sysexits 66, not 78) */
  constructor(
    readonly file: string,
    readonly keyPath: string,
    detail: string,
    readonly missing = false,
  ) {
    super(`${file}: ${keyPath ? `${keyPath}: ` : ''}${detail}`);
    this.name = 'ConfigError';
  }
}

const schema = JSON.parse(fs.readFileSync(path.join(__dirname, 'anomaly.schema.json'), 'utf8'));
/** the schema's validator, compiled by the build (scripts/config-validator.js): compiled here, it cost every start about 90 ms of CPU */
const validate: ValidateFunction = require('./anomaly.schema.validate.cjs');

/** Validate a parsed config object and fill in defaults; `file` only labels the errors. */
export function resolveConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): AnomalyConfig {
  if (!validate(raw)) {
    const e = validate.errors![0];
    // instancePath is a JSON pointer (/learning/min_events); show it the way users write keys
    const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const key = e.keyword === 'additionalProperties' ? [where, String(e.params.additionalProperty)].filter(Boolean).join('.') : where;
    const what =
      e.keyword === 'additionalProperties'
        ? `unknown key (${knownKeys(e.schemaPath)})`
        : e.keyword === 'enum'
          ? `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
          : e.keyword === 'maximum'
            ? `${e.message}${whyAtMost(e.schemaPath)}`
            : (e.message ?? 'invalid');
    throw new ConfigError(file, key || '(top level)', what);
  }
  const cfg = raw as Partial<AnomalyConfig>;
  // osqueryd starts the extension in its own working directory (/ under systemd), and
  // `anomaly train` runs wherever the user is: a relative path would name two places
  for (const [key, value] of [
    ['state_dir', cfg.state_dir],
    ['baselines.fleet_prior', cfg.baselines?.fleet_prior],
  ] as const)
    if (value && !path.isAbsolute(value))
      throw new ConfigError(file, key, `must be an absolute path, not ${JSON.stringify(value)} (osqueryd starts the extension in its own working directory)`);
  const merged: AnomalyConfig = {
    state_dir: cfg.state_dir ?? DEFAULTS.state_dir,
    log_level: cfg.log_level ?? DEFAULTS.log_level,
    retention: { ...DEFAULTS.retention, ...cfg.retention },
    learning: { ...DEFAULTS.learning, ...cfg.learning },
    retrain: { ...DEFAULTS.retrain, ...cfg.retrain },
    windows: { ...DEFAULTS.windows, ...cfg.windows },
    models: { ...DEFAULTS.models, ...cfg.models },
    queue: { ...DEFAULTS.queue, ...cfg.queue },
    queries: { ...cfg.queries },
    baselines: { ...DEFAULTS.baselines, ...cfg.baselines },
    budget: { ...DEFAULTS.budget, ...cfg.budget },
    memory: { ...DEFAULTS.memory, ...cfg.memory },
  };
  if (env.ANOMALY_STATE_DIR) {
    // the same rule as the config's state_dir, which it overrides: osqueryd passes its own
    // environment and working directory to the extensions it starts (/ under systemd), so a
    // relative path named one directory for anomaly.ext and another for 'anomaly train' in a
    // shell, and root created it wherever that was. Refused rather than resolved: resolved at
    // start, it would still be resolved against a directory the admin did not choose
    if (!path.isAbsolute(env.ANOMALY_STATE_DIR))
      throw new ConfigError(
        'ANOMALY_STATE_DIR',
        '',
        `must be an absolute path, not ${JSON.stringify(env.ANOMALY_STATE_DIR)} (osqueryd starts the extension in its own working directory, so a relative path names another directory there than here, ${path.resolve(env.ANOMALY_STATE_DIR)}); set it to an absolute path, or pass --state DIR to the anomaly command`,
      );
    merged.state_dir = env.ANOMALY_STATE_DIR;
  }
  return merged;
}

/** the schema's node that holds the keyword at `schemaPath` ('#/properties/learning/additionalProperties': its parent) */
function schemaNode(schemaPath: string): Record<string, unknown> | undefined {
  let node = schema as Record<string, unknown> | undefined;
  for (const part of schemaPath.replace(/^#\//, '').split('/').slice(0, -1)) node = node?.[part] as Record<string, unknown> | undefined;
  return node;
}

/** the keys allowed where an unknown one stood, so that a typo shows its fix */
function knownKeys(schemaPath: string): string {
  const keys = Object.keys((schemaNode(schemaPath)?.properties as Record<string, unknown> | undefined) ?? {});
  return keys.length ? `expected one of ${keys.join(', ')}` : 'none allowed here';
}

/**
 * why a value may be no larger, as the schema's `$comment` beside the bound says: each bound on
 * what sizes memory, time or work names what breaks past it
 */
function whyAtMost(schemaPath: string): string {
  const why = schemaNode(schemaPath)?.$comment;
  return typeof why === 'string' ? `: ${why}` : '';
}

/**
 * Load the config from `file`, else ANOMALY_CONFIG, else /etc/osquery/anomaly.json. A missing
 * default file means defaults; a missing file that was asked for, bad JSON or a bad key is a
 * ConfigError naming the file and the key path.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): AnomalyConfig {
  // the variable reaches the extension (cwd / under systemd) and the command line alike: a
  // relative path would be two files
  if (file === undefined && env.ANOMALY_CONFIG && !path.isAbsolute(env.ANOMALY_CONFIG))
    throw new ConfigError(
      env.ANOMALY_CONFIG,
      'ANOMALY_CONFIG',
      `must be an absolute path, not ${JSON.stringify(env.ANOMALY_CONFIG)} (osqueryd starts the extension in its own working directory)`,
    );
  const explicit = file ?? (env.ANOMALY_CONFIG || undefined);
  const target = explicit ?? DEFAULT_CONFIG_PATH;
  const raw = readConfigJson(target, !explicit);
  return raw === undefined ? resolveConfig({}, '(defaults)', env) : resolveConfig(raw, target, env);
}

/** who may read a config this user may not: as installed it is root's, and a command run without sudo meets it */
function readAs(file: string): string {
  let owner: number | undefined;
  try {
    owner = fs.statSync(file).uid;
  } catch {
    // a folder above it is closed to this user too
  }
  return owner === 0 ? 'run as root (sudo)' : owner !== undefined ? `run as its owner (uid ${owner})` : 'run as a user who may';
}

/** the parsed JSON of a config file; undefined when it is absent and `optional` */
export function readConfigJson(file: string, optional = false): unknown {
  let text: string;
  try {
    // checked on the descriptor that is read, so the file cannot be swapped in between; opened
    // without waiting, so a FIFO no one writes to is refused below rather than blocking the start
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const problem = untrustedFile(fs.fstatSync(fd), file);
      if (problem) throw new ConfigError(file, '', `not used: ${problem}`);
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (optional && code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM')
      throw new ConfigError(file, '', `cannot read it (permission denied): ${readAs(file)}, or name another with --config`);
    throw new ConfigError(file, '', code === 'ENOENT' ? 'no such config file' : `cannot read config: ${(err as Error).message}`, code === 'ENOENT');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, '', `not valid JSON${jsonFault(text, err as Error)}`);
  }
}
