import { DigestTable } from './digest-table';

// Which rows a subject keeps when an answer must cut them (state/answer-share.ts gives it a
// number of rows and bytes). Keeping the oldest let a user hide their real alert behind a
// flood of their own bad rows: past the first 2,000 no row of theirs was ever answered, and a
// summary of the rest named no event. osqueryd's alert query runs every interval over a
// sliding time range, and its differential log sends a row to the SIEM the first time an
// answer holds it, so what matters is that every distinct bad event is in some answer once,
// not that one answer holds everything. The rows are taken in this order, each while it fits:
//  1. the onset: the subject's first ONSET_ROWS rows in the answer's range, and its
//     LOWEST_ROWS lowest-scored (to a thousandth, the oldest first among equals);
//  2. one row of each distinct event (the same query, event and columns, quoted numbers
//     aside: state/event-digest.ts), its first; the events whose first row came last go
//     first. A new event is so in the next answer unless more than the share's worth of
//     other new events came after it within one pack interval (2,000 a minute for the `bad`
//     query), and a flood of one repeated event costs one row;
//  3. a row of each event in each hour (SLICE_SECONDS) of the range, its first, the latest
//     hours first: a repeat hours later is answered again;
//  4. unless the subject is past its cap on the alert route (`fill`: it is cut only for the
//     budget's sake): the rest, lowest score first, up to its share.
// Past the cap the rest is summed up: a flood's repeats would otherwise be the SIEM's
// lines (each new lowest score pushing out an older row, some 5,000 a day for one program
// run 120,000 times at scores of 0.05 to 0.24, measured). Every row of 1 to 3 is a fixed row
// (the first of something, or the lowest), so a row once answered stays answered while the
// flood grows and the differential log does not report the flood row by row.

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
}

/** a held-back event a summary names: the position of its lowest-scored held row */
export interface ToldEvent {
  at: number;
  /** its rows held back */
  rows: number;
  /** whether a row of it is in the answer */
  answered: boolean;
}

export interface KeptRows {
  /** 1 where the row is in the answer */
  keep: Uint8Array;
  /** the held-back events to name, the most pressing first: none of it answered, lowest score, most rows */
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
  for (let k = 0; k < Math.min(n, ONSET_ROWS); k++) take(k);
  const order = byScore(rows);
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
  for (let j = nFirsts - 1; j >= 0 && taken < keepRows; j--) take(firsts[j]);
  for (let j = nHourly - 1; j >= 0 && taken < keepRows; j--) take(firsts[n - 1 - j]);
  if (fill) for (let j = 0; j < n && taken < keepRows; j++) take(order[j]);

  return { keep, ...told(rows, keep, eventOf, events.size) };
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

/** the held events a summary names, and how many there are */
function told(rows: PairRows, keep: Uint8Array, eventOf: Uint32Array, nEvents: number): { told: ToldEvent[]; heldEvents: number } {
  const heldRows = new Uint32Array(nEvents);
  const heldAt = new Int32Array(nEvents).fill(-1);
  const answered = new Uint8Array(nEvents);
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
  // none of it answered first, then the lowest score, then the most rows
  const before = (a: number, b: number): boolean =>
    answered[a] !== answered[b] ? answered[a] < answered[b] : score(a) !== score(b) ? score(a) < score(b) : heldRows[a] > heldRows[b];
  const top: number[] = [];
  let heldEvents = 0;
  for (let e = 0; e < nEvents; e++) {
    if (!heldRows[e]) continue;
    heldEvents++;
    if (top.length === TOLD_EVENTS && !before(e, top[top.length - 1])) continue;
    let i = top.length;
    while (i > 0 && before(e, top[i - 1])) i--;
    top.splice(i, 0, e);
    if (top.length > TOLD_EVENTS) top.pop();
  }
  return { told: top.map((e) => ({ at: heldAt[e], rows: heldRows[e], answered: answered[e] === 1 })), heldEvents };
}
