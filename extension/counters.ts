// The logger's line counters, shown by anomaly_models and kept across restarts. They add up:
//   received = accepted + rejected
//   accepted = scored + queued + dropped + set_aside
// Every count is of result lines (one line may hold many rows, or none).

export interface IngestCounters {
  /** result lines osqueryd sent */
  received: number;
  /** lines taken for scoring */
  accepted: number;
  /** lines refused: malformed, oversized, not a string, our own output, ignored by config, or no rows; answered 0 all the same */
  rejected: number;
  /** accepted lines waiting in the durable queue */
  queued: number;
  /** accepted lines whose rows were scored */
  scored: number;
  /** accepted lines that could not be queued: queue full, or the disk refused the write */
  dropped: number;
  /** accepted lines put aside in queue/failed.jsonl or quarantine: scoring failed repeatedly, unreadable on replay, or over the row budget (budget.row_cpu_ms) */
  set_aside: number;
}

/** the counters kept in the queue's cursor file (queued is what the queue holds) */
export type PersistedCounters = Omit<IngestCounters, 'queued'>;

export function zeroCounters(): IngestCounters {
  return { received: 0, accepted: 0, rejected: 0, queued: 0, scored: 0, dropped: 0, set_aside: 0 };
}
