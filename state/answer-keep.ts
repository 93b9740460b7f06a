import { DigestTable } from './digest-table';

// Which rows a subject keeps when an answer must cut them (state/answer-share.ts gives it a
// number of rows and bytes). Keeping the oldest let a user hide their real alert behind a
// flood of their own bad rows: past the first 2,000 no row of theirs was ever answered, and a
// summary of the rest named no event. osqueryd's alert query runs every interval over a
// sliding time range, and its differential log sends a row to the SIEM the first time an
// answer holds it, so what matters is that every distinct bad event is in some answer once,
// not that one answer holds everything. The rows are taken in this order, each while it fits:
//  1. its lowest-scored row (to a thousandth, the oldest first among equals), the onset (the
//     subject's first ONSET_ROWS rows in the answer's range), then its LOWEST_ROWS lowest-scored;
//  2. one row of each distinct event (the same query, event and columns, a volatile column's
//     digits aside: state/event-digest.ts) that no answer on the alert route has held yet
//     (PairRows.answered: the store marks an answer's rows once it was sent, state/answer-marks.ts), its first; the newest and the
//     oldest such events in turns. Taking only the newest let more than a share's worth of
//     new events after a row hide it for the rest of the day (2,300 distinct events a minute
//     for two minutes, review); now each answer takes a share's worth of never-answered
//     events, half of it the newest (a new event is in the next answer unless more than half
//     a share of other new events came after it within one pack interval, 1,000 a minute for
//     the `bad` query) and half the oldest, so a backlog drains at half a share an interval
//     however fast the flood goes on;
//  3. one row of each event answered before, its first, the events whose first row came last
//     first: a row once answered stays in the answer while there is room, so the differential
//     log does not report it again; a flood of one repeated event costs one row;
//  4. a row of each event in each hour (SLICE_SECONDS) of the range, its first, the latest
//     hours first: a repeat hours later is answered again;
//  5. unless the subject is past its cap on the alert route (`fill`: it is cut only for the
//     budget's sake): the rest, lowest score first, up to its share.
// Past the cap the rest is summed up: a flood's repeats would otherwise be the SIEM's
// lines (each new lowest score pushing out an older row, some 5,000 a day for one program
// run 120,000 times at scores of 0.05 to 0.24, measured). Rows of 1, 3 and 4 are fixed rows
// (the first of something, or the lowest); those of 2 leave the answer for those of 3 once
// answered, where there is room for them, and otherwise leave it (the pack's queries do not
// log removals).

/** a subject's first rows in an answer's range that are always kept (a flood's onset) */
export const ONSET_ROWS = 10;
/** a subject's lowest-scored rows that are always kept */
export const LOWEST_ROWS = 10;
/** rows of one event kept once per this many seconds of `time` */
export const SLICE_SECONDS = 3600;
/** the held-back events a summary names */
export const TOLD_EVENTS = 12;

/** one cut subject's rows in an answer, oldest first, by position */
export interface PairRows {
  n: number;
  /** a digest naming the row's event: rows of one digest are one event */
  digest(k: number): number;
  time(k: number): number;
  /** NaN for a row without a score */
  score(k: number): number;
  /** its bytes on the wire in this answer */
  cost(k: number): number;
  /** whether an answer on the alert route has held it */
  answered(k: number): boolean;
  /** a digest naming what the row's event is of (a program and its lineage): the summary names one event of each first */
  group(k: number): number;
}

/** a held-back event a summary names: the position of its lowest-scored held row */
export interface ToldEvent {
  at: number;
  /** its rows held back */
  rows: number;
  /** whether a row of it is in the answer, or was in an earlier one */
  answered: boolean;
}

export interface KeptRows {
  /** 1 where the row is in the answer */
  keep: Uint8Array;
  /** the held-back events to name: one of each group, then the others, each the most pressing first (never answered, lowest score, most rows) */
  told: ToldEvent[];
  /** distinct events with a row held back */
  heldEvents: number;
}

/** which of a cut subject's rows to keep in `keepRows` and `keepBytes`; `fill`: up to them with its lowest scores */
export function keptRows(rows: PairRows, keepRows: number, keepBytes: number, fill: boolean): KeptRows {
  const { n } = rows;
  const keep = new Uint8Array(n);
  let taken = 0;
  let bytes = 0;
  const take = (k: number): void => {
    if (keep[k] || taken >= keepRows) return;
    const c = rows.cost(k);
    if (bytes + c > keepBytes + 1e-6) return;
    keep[k] = 1;
    taken++;
    bytes += c;
  };
  const order = byScore(rows);
  // its lowest-scored row first: the share gives every subject it ranks room for one row
  // (answer-share.ts), and that row must be its worst, not its flood's first
  if (n) take(order[0]);
  for (let k = 0; k < Math.min(n, ONSET_ROWS); k++) take(k);
  for (let j = 0; j < Math.min(n, LOWEST_ROWS); j++) take(order[j]);

  // each event's first row (from the front of `firsts`) and its first row of each later hour
  // (from the back), in order; rows come in the order they were scored, nearly that of
  // their time, and a row late for its hour is taken as one more of that hour
  const events = new DigestTable();
  const eventOf = new Uint32Array(n);
  const firsts = new Uint32Array(n);
  let nFirsts = 0;
  let nHourly = 0;
  /** by event id: the hour of its row seen last */
  let lastHour: Int32Array = new Int32Array(64);
  for (let k = 0; k < n; k++) {
    const e = (eventOf[k] = events.id(rows.digest(k)));
    const hour = Math.floor(rows.time(k) / SLICE_SECONDS);
    if (e === nFirsts) {
      // (a new event's id is the count of those before it)
      firsts[nFirsts++] = k;
      if (e >= lastHour.length) lastHour = grown(lastHour);
    } else if (hour !== lastHour[e]) firsts[n - 1 - nHourly++] = k;
    lastHour[e] = hour;
  }
  // (an event is answered when any row of it was)
  const answered = new Uint8Array(nFirsts);
  for (let k = 0; k < n; k++) if (rows.answered(k)) answered[eventOf[k]] = 1;
  for (let lo = 0, hi = nFirsts - 1, newest = true; lo <= hi && taken < keepRows; newest = !newest) {
    if (newest) {
      while (lo <= hi && answered[hi]) hi--;
      if (lo <= hi) take(firsts[hi--]);
    } else {
      while (lo <= hi && answered[lo]) lo++;
      if (lo <= hi) take(firsts[lo++]);
    }
  }
  for (let j = nFirsts - 1; j >= 0 && taken < keepRows; j--) if (answered[j]) take(firsts[j]);
  for (let j = nHourly - 1; j >= 0 && taken < keepRows; j--) take(firsts[n - 1 - j]);
  if (fill) for (let j = 0; j < n && taken < keepRows; j++) take(order[j]);

  return { keep, ...told(rows, keep, eventOf, answered) };
}

function grown(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** positions ordered by score to a thousandth (NaN last), oldest first within each: a counting sort */
function byScore(rows: PairRows): Uint32Array {
  const BUCKETS = 1002;
  const bucket = (k: number): number => {
    const s = rows.score(k);
    return s === s ? Math.min(1000, Math.max(0, Math.floor(s * 1000))) : 1001;
  };
  const starts = new Uint32Array(BUCKETS + 1);
  for (let k = 0; k < rows.n; k++) starts[bucket(k) + 1]++;
  for (let b = 0; b < BUCKETS; b++) starts[b + 1] += starts[b];
  const order = new Uint32Array(rows.n);
  for (let k = 0; k < rows.n; k++) order[starts[bucket(k)]++] = k;
  return order;
}

/**
 * The held events a summary names, and how many there are: the most pressing event of each
 * group (a program and its lineage) first, then the others, each the most pressing first (none
 * of it answered, the lowest score, the most rows). Ranked by event alone, a dozen column
 * variants of a flooder's own program outranked the one row of another program they hid (review)
 */
function told(rows: PairRows, keep: Uint8Array, eventOf: Uint32Array, answeredBefore: Uint8Array): { told: ToldEvent[]; heldEvents: number } {
  const nEvents = answeredBefore.length;
  const heldRows = new Uint32Array(nEvents);
  const heldAt = new Int32Array(nEvents).fill(-1);
  const answered = answeredBefore.slice();
  for (let k = 0; k < rows.n; k++) {
    const e = eventOf[k];
    if (keep[k]) answered[e] = 1;
    else {
      heldRows[e]++;
      // (NaN is never below: a row with a score is the example where there is one)
      if (heldAt[e] < 0 || rows.score(k) < rows.score(heldAt[e])) heldAt[e] = k;
    }
  }
  const score = (e: number): number => {
    const s = rows.score(heldAt[e]);
    return s === s ? s : 2;
  };
  const before = (a: number, b: number): boolean =>
    answered[a] !== answered[b] ? answered[a] < answered[b] : score(a) !== score(b) ? score(a) < score(b) : heldRows[a] > heldRows[b];
  // each group's most pressing held event
  const groups = new DigestTable();
  let best: Int32Array = new Int32Array(64);
  let heldEvents = 0;
  for (let e = 0; e < nEvents; e++) {
    if (!heldRows[e]) continue;
    heldEvents++;
    const known = groups.size;
    const g = groups.id(rows.group(heldAt[e]));
    if (g === known && g >= best.length) best = grown(best);
    if (g === known || before(e, best[g])) best[g] = e;
  }
  const firsts = new Uint8Array(nEvents);
  for (let g = 0; g < groups.size; g++) firsts[best[g]] = 1;
  const top = (pick: (e: number) => boolean, room: number): number[] => {
    const out: number[] = [];
    for (let e = 0; e < nEvents && room > 0; e++) {
      if (!heldRows[e] || !pick(e)) continue;
      if (out.length === room && !before(e, out[out.length - 1])) continue;
      let i = out.length;
      while (i > 0 && before(e, out[i - 1])) i--;
      out.splice(i, 0, e);
      if (out.length > room) out.pop();
    }
    return out;
  };
  const named = top((e) => firsts[e] === 1, TOLD_EVENTS);
  named.push(...top((e) => firsts[e] === 0, TOLD_EVENTS - named.length));
  return { told: named.map((e) => ({ at: heldAt[e], rows: heldRows[e], answered: answered[e] === 1 })), heldEvents };
}
