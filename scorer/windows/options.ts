import type { AnomalyConfig } from '../../conf/config';

// What the window unit is configured by (config.windows, learning, retrain, baselines), and the
// bound on the history that the configured number of rows may grow to.

export interface WindowOptions {
  /** window length in seconds */
  seconds: number;
  /** how long after its end a window waits for late rows */
  graceSeconds: number;
  /** lifecycle minimums of the subject (config.learning) */
  minEvents: number;
  minSeconds: number;
  /** rows of history kept per subject (config.retrain.window_events) */
  historyRows: number;
  retrainSeconds: number;
  /** fraction of the history held out for calibration */
  heldOutFraction?: number;
  /**
   * score the windows of subjects still learning against their host's window baseline
   * (config.baselines.host, as for rows; on unless false)
   */
  hostBaseline?: boolean;
}

/**
 * The history keeps `retrain.window_events` rows, or more when those span less than the
 * calibration needs (a subject that logs a row a second fills 20,000 rows in 5.6 h, while
 * 20 held-out 10-minute windows need 11 h), up to this many times as many rows: 100,000 by
 * default, about 3 MB of arrays, for subjects of up to 2.5 rows a second.
 */
export const MAX_HISTORY_FACTOR = 5;

export interface WindowScorerOptions extends WindowOptions {
  /** where window state is persisted; null keeps it in memory (evaluation) */
  stateDir: string | null;
  /**
   * the most subjects kept (the extension passes memory.max_subjects; offline commands keep
   * all): beyond it the least recently active one whose windows are not scored yet and that
   * has no window open is forgotten, file and all; when there is none, a new subject's rows
   * make no windows
   */
  maxSubjects?: number;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
}

/** the window unit's options from the extension's config */
export function windowOptionsFrom(config: AnomalyConfig, stateDir: string | null, log?: WindowScorerOptions['log']): WindowScorerOptions {
  return {
    seconds: config.windows.seconds,
    graceSeconds: config.windows.grace_seconds,
    minEvents: config.learning.min_events,
    minSeconds: config.learning.min_days * 86400,
    historyRows: config.retrain.window_events,
    retrainSeconds: config.retrain.interval_seconds,
    hostBaseline: config.baselines.host,
    stateDir,
    log,
  };
}
