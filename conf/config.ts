import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';

// The extension's own configuration. osqueryd passes an autoloaded extension only its own
// flags, so the extension reads this file itself (design doc, Lifecycle).

export interface QueryOverride {
  subject?: string;
  key?: string[];
  ignore?: boolean;
}

export interface AnomalyConfig {
  state_dir: string;
  log_level: 'debug' | 'info' | 'warn' | 'error';
  retention: { max_rows: number; max_days: number };
  learning: { min_events: number; min_days: number };
  retrain: { interval_seconds: number; window_events: number };
  /** anomaly_windows: window length, and how long a window waits for late rows after its end */
  windows: { seconds: number; grace_seconds: number };
  models: { rarity: boolean; ocsvm: boolean; lstm: boolean };
  queue: { max_bytes: number; max_line_bytes: number };
  queries: Record<string, QueryOverride>;
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
  models: { rarity: true, ocsvm: true, lstm: true },
  queue: { max_bytes: 256 * 1024 * 1024, max_line_bytes: 1024 * 1024 },
  queries: {},
};

export class ConfigError extends Error {
  constructor(readonly file: string, readonly keyPath: string, detail: string) {
    super(`${file}: ${keyPath ? `${keyPath}: ` : ''}${detail}`);
    this.name = 'ConfigError';
  }
}

const schema = JSON.parse(fs.readFileSync(path.join(__dirname, 'anomaly.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true }).compile(schema);

/** Validate a parsed config object and fill in defaults; `file` only labels the errors. */
export function resolveConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): AnomalyConfig {
  if (!validate(raw)) {
    const e = validate.errors![0];
    // instancePath is a JSON pointer (/learning/min_events); show it the way users write keys
    const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const key = e.keyword === 'additionalProperties' ? [where, String(e.params.additionalProperty)].filter(Boolean).join('.') : where;
    const what = e.keyword === 'additionalProperties' ? 'unknown key' : e.message ?? 'invalid';
    throw new ConfigError(file, key || '(top level)', what);
  }
  const cfg = raw as Partial<AnomalyConfig>;
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
  };
  if (env.ANOMALY_STATE_DIR) merged.state_dir = env.ANOMALY_STATE_DIR;
  return merged;
}

/**
 * Load the config from `file`, else ANOMALY_CONFIG, else /etc/osquery/anomaly.json. A missing
 * default file means defaults; a missing file that was asked for, bad JSON or a bad key is a
 * ConfigError naming the file and the key path.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): AnomalyConfig {
  const explicit = file ?? env.ANOMALY_CONFIG;
  const target = explicit ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = fs.readFileSync(target, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return resolveConfig({}, '(defaults)', env);
    throw new ConfigError(target, '', `cannot read config: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(target, '', `not valid JSON: ${(err as Error).message}`);
  }
  return resolveConfig(raw, target, env);
}
