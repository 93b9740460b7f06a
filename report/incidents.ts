import type { ScoredEvent, ScoredWindow } from '../scorer/types';

// Incidents: what a person reads first. Bad rows and bad windows of one subject that are close
// in time are one incident, told in one line: who, where, when, how much, and what the
// strongest reasons say. Rows of different subjects are never merged, even when they happen
// together: the question a reader asks is "what happened to alice's account". A subject is
// per host, as the product models it (alice@web-01): `host` or `uid:1001` on two machines of
// a fleet's log are not one actor.

/** bad items of one subject further apart than this start a new incident */
export const INCIDENT_GAP_SECONDS = 1800;
/** characters of one reason in an incident's line */
const MAX_PHRASE = 160;

export interface Incident {
  subject: string;
  hosts: string[];
  /** unixTime of the first bad row or window start, and of the last bad row or window end */
  start: number;
  end: number;
  rows: ScoredEvent[];
  windows: ScoredWindow[];
  /** the lowest score among its rows and windows */
  score: number;
  /** one line saying what happened */
  summary: string;
}

type Item = { kind: 'row'; row: ScoredEvent; start: number; end: number } | { kind: 'window'; window: ScoredWindow; start: number; end: number };

/** one subject of one host (a row's or a window's), as a map key */
export function subjectKey(x: { subject: string; host: string }): string {
  return `${x.subject}\u0000${x.host}`;
}

/** incidents from bad rows and bad windows, lowest score first */
export function findIncidents(scores: readonly ScoredEvent[], windows: readonly ScoredWindow[] = [], gap = INCIDENT_GAP_SECONDS): Incident[] {
  const bySubject = new Map<string, Item[]>();
  const add = (subject: string, item: Item) => (bySubject.get(subject) ?? bySubject.set(subject, []).get(subject)!).push(item);
  for (const row of scores) if (row.verdict === 'bad') add(subjectKey(row), { kind: 'row', row, start: row.time, end: row.time });
  for (const window of windows) if (window.verdict === 'bad') add(subjectKey(window), { kind: 'window', window, start: window.start, end: window.end });
  const out: Incident[] = [];
  for (const [key, items] of bySubject) {
    const subject = key.slice(0, key.indexOf('\u0000'));
    items.sort((a, b) => a.start - b.start);
    let group: Item[] = [];
    let groupEnd = -Infinity;
    for (const item of items) {
      if (group.length && item.start - groupEnd > gap) {
        out.push(incidentOf(subject, group));
        group = [];
      }
      group.push(item);
      groupEnd = Math.max(groupEnd, item.end);
    }
    if (group.length) out.push(incidentOf(subject, group));
  }
  return out.sort((a, b) => a.score - b.score || b.start - a.start);
}

function incidentOf(subject: string, items: Item[]): Incident {
  const rows = items.flatMap((i) => (i.kind === 'row' ? [i.row] : []));
  const windows = items.flatMap((i) => (i.kind === 'window' ? [i.window] : []));
  // folded, not spread as arguments: an incident may hold more rows than V8 takes arguments
  // (about 125,000; retention keeps a million, and a scan logs a bad row a second)
  let start = Infinity;
  let end = -Infinity;
  for (const i of items) {
    if (i.start < start) start = i.start;
    if (i.end > end) end = i.end;
  }
  let score = Infinity;
  for (const r of rows) score = Math.min(score, r.score ?? 1);
  for (const w of windows) score = Math.min(score, w.score ?? 1);
  const hosts = [...new Set([...rows.map((r) => r.host), ...windows.map((w) => w.host)])].sort();
  return { subject, hosts, start, end, rows, windows, score, summary: summarise(subject, hosts, start, end, rows, windows) };
}

/** "alice on web-01, 40 min: 5 bad rows, 2 bad windows: `/usr/bin/nc` never run by alice; …" */
function summarise(subject: string, hosts: string[], start: number, end: number, rows: ScoredEvent[], windows: ScoredWindow[]): string {
  const counts = [rows.length ? plural(rows.length, 'bad row') : '', windows.length ? plural(windows.length, 'bad window') : ''].filter(Boolean).join(', ');
  // the strongest reasons of different kinds (a window's and a row's, not two windows' saying
  // the same in other numbers), without their "(model; history)" tails, each kept short
  const phrases: string[] = [];
  const kinds = new Set<string>();
  const ranked = [...rows.map((r) => ({ score: r.score ?? 1, reasons: r.reasons })), ...windows.map((w) => ({ score: w.score ?? 1, reasons: w.reasons }))].sort(
    (a, b) => a.score - b.score,
  );
  for (const r of ranked) {
    const phrase = r.reasons.replace(/\s*\([^()]*\)\s*$/, '').trim();
    const kind = phrase.split(/\s+/).slice(0, 4).join(' ');
    if (!phrase || kinds.has(kind)) continue;
    kinds.add(kind);
    phrases.push(phrase.length > MAX_PHRASE ? `${phrase.slice(0, MAX_PHRASE - 1).trimEnd()}…` : phrase);
    if (phrases.length === 2) break;
  }
  return `${subject} on ${hosts.join(', ')}, ${duration(end - start)}: ${counts}${phrases.length ? ` — ${phrases.join('; ')}` : ''}`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return 'one moment';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${(seconds / 3600).toFixed(seconds < 36000 ? 1 : 0)} h`;
  return `${Math.round(seconds / 86400)} days`;
}
