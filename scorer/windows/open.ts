import type { TakenMark } from '../types';

// The windows still open (scorer.ts closes each once its host's rows have passed its end by the
// grace period), as kept in memory and saved in open.json, with the queue mark saved beside them.

/** rows kept per open window for the order and the top ids; more are counted, not kept */
export const MAX_OPEN_ROWS = 50_000;

/** a row of an open window: row evidence is −1 while the subject was learning; arrival orders rows of one second */
export type OpenRow = [time: number, key: number, evidence: number, id: string, arrival: number];

export interface OpenWindow {
  subject: string;
  host: string;
  start: number;
  events: number;
  /** the first MAX_OPEN_ROWS rows, in the order they arrived (the window sorts them by time when it closes) */
  rows: OpenRow[];
}

/** the start of the window of `seconds` a time falls in: windows are aligned to multiples of their length */
export function windowStartOf(time: number, seconds: number): number {
  return Math.floor(time / seconds) * seconds;
}

/** an open window's key: its subject's, host's and start's */
export function openWindowId(subject: string, host: string, start: number): string {
  return `${subject}\u0000${host}\u0000${start}`;
}

/**
 * Open windows as saved, or, when windows.seconds changed since, their rows in windows of the
 * configured length (a row beyond the MAX_OPEN_ROWS kept was counted, not kept, and is lost)
 */
export function rebucketWindows(open: readonly OpenWindow[], seconds: number): OpenWindow[] {
  if (open.every((w) => w.start % seconds === 0 && w.rows.every((r) => windowStartOf(r[0], seconds) === w.start))) return [...open];
  const out = new Map<string, OpenWindow>();
  for (const w of open)
    for (const r of w.rows) {
      const start = windowStartOf(r[0], seconds);
      const id = openWindowId(w.subject, w.host, start);
      let n = out.get(id);
      if (!n) out.set(id, (n = { subject: w.subject, host: w.host, start, events: 0, rows: [] }));
      n.events++;
      n.rows.push(r);
    }
  return [...out.values()];
}

/** a saved queue mark (absent in files of earlier builds) */
export function isTaken(x: unknown): x is TakenMark {
  if (!x || typeof x !== 'object') return false;
  const { epoch, at } = x as { epoch?: unknown; at?: unknown };
  return typeof epoch === 'string' && Array.isArray(at) && at.length === 3 && at.every((n) => Number.isInteger(n) && n >= 0);
}
