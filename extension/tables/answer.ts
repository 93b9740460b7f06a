import { GOOD_FROM } from '../../scorer/calibration';
import { fairShares, WIRE_OVERHEAD, type AnswerShare, type HeldBack } from '../../state/answer-share';
import { OLDER_EVENTS } from '../../state/older-rows';
import { CHOSEN_ROWS } from '../../state/retained';
import { isHidden, isHiddenUnit, jsonShown, oneLine, storedJson } from '../hidden-chars';
import { boundsOf, equalsOf, type ColumnDefinition, type QueryContext, type Row } from '../plugin/table';
import type { HostAccounts } from '../host-accounts';

// The bounds of one table answer (state/answer-share.ts says why): its budget, a subject's
// share of the alert bands, and each cell of text cut to a size with a mark that says so.

/**
 * Wire bytes of an answer: three quarters of the 64 MB past which the extension's server
 * refuses one (server.ts maxReply), which its summaries and the estimate's slack never
 * reach; osqueryd reads a reply through Thrift's TBufferedTransport, whose TConfiguration
 * stops a message at 100 MB. An unconstrained SELECT of 100,000 plain rows, 35 MB, still fits.
 */
export const ANSWER_BYTES = 48 << 20;
/** rows of an answer (a count over a million retained rows gets summaries past it) */
export const ANSWER_ROWS = 250_000;
/**
 * Rows of one subject on one host in an answer that can only hold ugly and bad rows (the alert
 * pack's `bad` and `ugly`): by the score's contract a subject's normal behaviour puts 6 % of
 * its rows below 0.7 and 0.16 % below 0.3, so this many takes 33,000 rows in `ugly`'s hour, or
 * 1.25 million in `bad`'s day; past it the subject floods its alert route, and its rows are
 * summed up instead of burying everyone else's and flooding the SIEM
 */
export const SUBJECT_ALERT_ROWS = 2_000;
/** UTF-8 bytes of one cell of text in an answer, its mark included, unless the query names the row by id */
export const CELL_BYTES = 2_048;
/** `columns` (the row's own columns as JSON) is cut value by value, to stay JSON, in this many bytes */
export const COLUMNS_BYTES = 8_192;

/**
 * Text the scorer writes in a short form (an id, a model's name, a verdict, an action): cut
 * at this many bytes, which only a record that is not the scorer's (a damaged store) reaches
 */
export const SHORT_CELL_BYTES = 128;
/** the wire bytes of a row's `rowid` cell (plugin/rowid.ts): its name, 16 digits and a cell's framing */
const ROWID_BYTES = 8 + 'rowid'.length + 16;
/**
 * the most a summary row takes: its subject, host, query, event and reasons cut to a cell
 * each, its columns to theirs, the rest short, and each column's name and lengths (twelve)
 */
const HELD_ROW_BYTES = 5 * CELL_BYTES + COLUMNS_BYTES + 4 * SHORT_CELL_BYTES + 2 * 24 + 12 * 24 + ROWID_BYTES;
/** bytes of one held event as a summary names it in its text */
const TOLD_BYTES = 240;
/** the columns of a table whose text the index keeps (each record's cost is then known exactly) */
const INDEXED = ['subject', 'host', 'query'] as const;

/** the most bytes a cell of `column` has in an answer that cuts cells */
function cellBytes(column: ColumnDefinition, short: ReadonlySet<string>): number {
  if (column.type !== 'TEXT') return 24;
  if (short.has(column.name)) return SHORT_CELL_BYTES;
  return column.name === 'columns' ? COLUMNS_BYTES : CELL_BYTES;
}

/**
 * The share of an answer for a generate context. `whole`: cells are not cut (the query names
 * its rows by id), so a record costs at most its stored JSON; otherwise a record costs the
 * cells the query reads, each at most its bound, the index's texts at their length, and the
 * others no more than the record's stored JSON.
 */
export function answerShare(
  ctx: QueryContext,
  columns: readonly ColumnDefinition[],
  short: ReadonlySet<string>,
  whole: boolean,
  accounts?: HostAccounts,
): AnswerShare {
  const used = ctx.colsUsed;
  let fixed = 6 + ROWID_BYTES;
  let text = 0;
  const indexed = { subject: false, host: false, query: false };
  for (const c of columns) {
    if (used && !used.has(c.name)) continue;
    fixed += 8 + c.name.length;
    const index = INDEXED.find((n) => n === c.name);
    if (index) indexed[index] = true;
    else if (c.type !== 'TEXT' || short.has(c.name)) fixed += cellBytes(c, short);
    else text += cellBytes(c, short);
  }
  const known = (on: boolean, s: string) => (on ? Math.min(CELL_BYTES, 3 * s.length) : 0);
  // (cut cells only shrink, and a record's stored JSON holds every cell's text, escaped, and
  // its names: the wire adds a few bytes a column, WIRE_OVERHEAD. A column the query does not
  // read is left out of its rows, `columns` too, which its stored JSON holds in at least
  // `bulk` bytes: a user's rows padded there cost them nothing on the wire)
  const readsBulk = !used || used.has('columns');
  const paid = (stored: number, bulk: number) => (readsBulk ? stored : stored - bulk) + WIRE_OVERHEAD + ROWID_BYTES;
  const rowBytes = whole
    ? (stored: number, _subject: string, _host: string, _tag: string, bulk: number) => paid(stored, bulk)
    : (stored: number, subject: string, host: string, tag: string, bulk: number) =>
        Math.min(paid(stored, bulk), fixed + known(indexed.subject, subject) + known(indexed.host, host) + known(indexed.query, tag) + text);
  const named = equalsOf(ctx, 'subject') || equalsOf(ctx, 'id');
  const alertRoute = !named && alertBands(ctx);
  return {
    bytes: ANSWER_BYTES,
    rows: ANSWER_ROWS,
    perSubject: alertRoute ? SUBJECT_ALERT_ROWS : Infinity,
    marks: alertRoute ? ctx.onDelivered : undefined,
    rowBytes,
    heldBytes: HELD_ROW_BYTES,
    account: accounts && ((subject) => accounts.has(subject)),
  };
}

/** the constraints admit only rows below GOOD_FROM (ugly and bad) */
function alertBands(ctx: QueryContext): boolean {
  const below = boundsOf(ctx, 'score')?.some((b) => (b.op === '<' || b.op === '<=') && b.value <= GOOD_FROM);
  const verdicts = equalsOf(ctx, 'verdict');
  return Boolean(below) || Boolean(verdicts?.every((v) => /^(bad|ugly) *$/i.test(v)));
}

/**
 * the cells of `row` the query reads, each shown (as every table's cells are, plugin/table.ts
 * shownCells) and cut to its bound: the cut counts the shown bytes, up to four times the
 * stored ones (an ESC, one byte, is shown as `\x1b`)
 */
export function cutCells(row: Row, used: ReadonlySet<string> | null, short: ReadonlySet<string>): Row {
  for (const k in row) {
    if (used && !used.has(k)) continue;
    const v = row[k];
    if (v === undefined) continue;
    row[k] = k === 'columns' ? cutColumns(v, COLUMNS_BYTES) : cutText(oneLine(v), short.has(k) ? SHORT_CELL_BYTES : CELL_BYTES);
  }
  return row;
}

const cutMark = (bytes: number) => `… [cut: ${bytes} bytes in all]`;
/** room for the mark: "… [cut: " and "] bytes in all]" with up to 16 digits */
const MARK_BYTES = 40;

/** `text` in at most `max` UTF-8 bytes, its end replaced by a mark with its full size when cut */
export function cutText(text: string, max: number): string {
  // (a UTF-16 unit is at most 3 bytes of UTF-8)
  if (text.length * 3 <= max) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return text;
  return text.slice(0, unitsWithin(text, max - MARK_BYTES, utf8Bytes)) + cutMark(bytes);
}

/**
 * A row's columns (a JSON object of text) in at most `max` bytes, always JSON: each value gets
 * a fair share of them and is cut with the mark the extractor already uses (`… (N chars)`), so
 * the cell reads as the row did. Keys are cut to KEY_BYTES, and those past half of `max` are
 * left out, said by a last key `…` (a user's own column names, from a table of theirs, could
 * alone pass `max`); anything that is not an object is one value under the key `…`.
 */
export function cutColumns(text: string, max: number): string {
  // (shown: the cut is measured as the cell goes out, its hidden characters escaped, and the
  // raw controls of text that is not JSON.stringify's, which no JSON holds, as oneLine shows them)
  if (text.length <= max / 6) return oneLine(jsonShown(text));
  const shown = oneLine(jsonShown(text));
  if (Buffer.byteLength(shown) <= max) return shown;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return asOneValue(text, max);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return asOneValue(text, max);
  const all = Object.entries(doc as Record<string, unknown>);
  const entries: [string, string][] = [];
  let fixed = 2;
  for (const [k, v] of all) {
    const key = jsonBytes(k) - 2 <= KEY_BYTES ? k : cutJson(k, KEY_BYTES);
    const need = jsonBytes(key) + 2 + VALUE_FLOOR;
    // (room kept for the last key that says how many were left out)
    if (fixed + need > max / 2 - 48) break;
    fixed += need;
    entries.push([key, typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null')]);
  }
  if (entries.length < all.length) entries.push(['…', `${all.length - entries.length} more columns`]);
  fixed = 2 + entries.reduce((n, [k]) => n + jsonBytes(k) + 2, 0);
  const shares = fairShares(
    entries.map(([, v]) => jsonBytes(v)),
    max - fixed - entries.length * 24,
  );
  const out: Record<string, string> = {};
  entries.forEach(([k, v], i) => {
    const room = Math.floor(shares[i]) - 2;
    out[k] = jsonBytes(v) - 2 <= room ? v : cutJson(v, room);
  });
  const cut = storedJson(out);
  return Buffer.byteLength(cut) <= max ? cut : asOneValue(text, max);
}

/** a key of `columns` in an answer is cut to this many bytes of JSON */
const KEY_BYTES = 128;
/** the least room a value of `columns` is given when its keys are counted */
const VALUE_FLOOR = 24;

/** `v` cut to `room` bytes of JSON (quotes aside), ending with its full length */
function cutJson(v: string, room: number): string {
  const mark = `… (${v.length} chars)`;
  return `${v.slice(0, unitsWithin(v, Math.max(0, room - jsonBytes(mark) + 2), jsonCodeBytes))}${mark}`;
}

/** `text` as the one value of a JSON object, cut to fit `max` bytes */
function asOneValue(text: string, max: number): string {
  return storedJson({ '…': cutJson(text, max - 16) });
}

/** the units of `text` from its start whose bytes (by `size`, of a code point; a lone surrogate is one) fit `max`, never half a surrogate pair */
function unitsWithin(text: string, max: number, size: (code: number) => number): number {
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const unit = text.charCodeAt(i);
    const code = unit >= 0xd800 && unit <= 0xdbff ? text.codePointAt(i)! : unit;
    const n = size(code);
    if (used + n > max) break;
    used += n;
    i += code > 0xffff ? 2 : 1;
  }
  return i;
}

const utf8Bytes = (code: number): number => (code < 0x80 ? 1 : code < 0x800 ? 2 : code <= 0xffff ? 3 : 4);
/** bytes of a code point inside a JSON string as jsonShown writes it (JSON.stringify's escapes, and the hidden characters') */
const jsonCodeBytes = (code: number): number => {
  if (code < 0x7f) return code === 0x22 || code === 0x5c || code === 8 || code === 9 || code === 10 || code === 12 || code === 13 ? 2 : code < 0x20 ? 6 : 1;
  if (code > 0xffff) return isHidden(String.fromCodePoint(code)) ? 12 : 4;
  return (code >= 0xd800 && code <= 0xdfff) || isHiddenUnit(code) ? 6 : utf8Bytes(code);
};
/** UTF-8 bytes of a string as JSON, quotes included, as jsonShown writes it */
function jsonBytes(s: string): number {
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    const code = unit >= 0xd800 && unit <= 0xdbff ? s.codePointAt(i)! : unit;
    n += jsonCodeBytes(code);
    if (code > 0xffff) i++;
  }
  return n;
}

/** what a summary row says of the rows it stands for, and how to read them */
export function heldReasons(h: HeldBack, what: string, share: AnswerShare): string {
  const cap = share.perSubject === Infinity ? '' : `, at most ${share.perSubject} of one subject where only ugly and bad ones are asked for`;
  if (h.pairs > 1)
    // (answer-share.ts: the subjects that rank last are folded here, and the reader must know
    // that this row stands for subjects, not one, and how to read them)
    return (
      `${h.rows} ${what} of ${h.pairs} subjects on hosts, from ${iso(h.from)} to ${iso(h.to)}, were held back from this answer ` +
      `with ${h.shown ? `no summary of their own (${h.shown} of them have ${what} in this answer, each its lowest-scored first)` : `no row and no summary of their own`}: it holds ${share.rows} rows and ${Math.round(share.bytes / 2 ** 20)} MB${cap}, ` +
      `and more subjects had ${what} than it has room for. Each subject's lowest-scored row is given room first, ` +
      `accounts the host's users table lists before the subjects it does not (\`uid:N\`), then ` +
      `those scored by their own models (past their learning) before those a baseline scored or still learning, then ` +
      `those with the most ${what} retained beyond this answer first (an established account before a crowd of new ones), ` +
      `then the lowest scores, then the most ${what}; these ${h.pairs} ranked last ` +
      `(a table call cannot be paged): a query of few columns has room for every subject (subject, host and count(*) grouped by them), ` +
      `then select each by subject and host`
    );
  return (
    `${h.rows} ${what} of this subject on this host from ${iso(h.from)} to ${iso(h.to)}, were held back from this answer, ` +
    `as each subject gets a fair share of ${share.rows} rows and ${Math.round(share.bytes / 2 ** 20)} MB${cap}; ` +
    `kept: its lowest score, its first ${what} and lowest scores, one of each distinct event no answer held yet (the newest and the oldest in turns), ` +
    `then one of each answered before (and of each an hour), then its lowest scores ` +
    `(a table call cannot be paged): select them by subject and host and a time within that span` +
    (h.older
      ? `; ${h.older} of them, older than the newest ${CHOSEN_ROWS} ${what} chosen among, were counted and not examined one by one ` +
        `(only one row of each of up to ${OLDER_EVENTS} of their events, those no answer held first, then the lowest-scored)`
      : '')
  );
}

/**
 * A cell of a summary: `prefix`, then the held-back events it names in the order given (one of
 * each program first, answer-keep.ts), each as `text` says it, as a JSON string cut to
 * TOLD_BYTES, with its rows held back and whether no answer ever held a row of it, as many as
 * fit a cell whole. Each entry is quoted and escaped: the text is the user's own, and a command
 * line of theirs that spelled `; … ×9 (never answered)` read as entries of the list (review);
 * its controls and hidden characters too, as the cell is shown (hidden-chars.ts jsonShown).
 */
export function toldText<R>(h: HeldBack<R>, prefix: string, text: (r: R) => string): string {
  const of = h.events > 0 ? ` of ${h.events} distinct event${h.events === 1 ? '' : 's'}` : '';
  // (a summary of several subjects names no event: the subjects it stands for, quoted as the user's own text)
  const whose = h.pairs > 1 ? ` of ${h.pairs} subjects, among them ${h.names.map(([s, o]) => storedJson(cutText(`${s}@${o}`, 128))).join(', ')}` : '';
  let out = `${prefix}${of}${whose}`;
  // (room kept for the last words, `; and N more`)
  let room = CELL_BYTES - 32 - Buffer.byteLength(out);
  let named = 0;
  for (const t of h.told) {
    const v = text(t.record);
    const entry = `${named ? '; ' : ': '}${storedJson(jsonBytes(v) <= TOLD_BYTES ? v : cutJson(v, TOLD_BYTES - 2))} ×${t.rows}${t.answered ? '' : ' (never answered)'}`;
    const bytes = Buffer.byteLength(entry);
    if (bytes > room) break;
    out += entry;
    room -= bytes;
    named++;
  }
  const more = h.events - named;
  return named && more > 0 ? `${out}; and ${more} more` : out;
}

/**
 * The summary's own columns as JSON within COLUMNS_BYTES (never cut, so it stays one object):
 * its count, span and subjects, and as many of the named events as fit
 */
export function heldColumns<R>(h: HeldBack<R>, entry: (r: R) => Record<string, unknown>): string {
  const doc = {
    held: h.rows,
    from: h.from,
    to: h.to,
    events: h.events,
    subjects: h.pairs,
    named: h.pairs > 1 ? h.names.map(([s, o]) => ({ subject: cutText(s, 128), host: cutText(o, 128) })) : [],
    told: [] as unknown[],
  };
  let bytes = Buffer.byteLength(storedJson(doc));
  for (const t of h.told) {
    const e = { ...entry(t.record), rows: t.rows, answered: t.answered };
    const more = Buffer.byteLength(storedJson(e)) + 1;
    if (bytes + more > COLUMNS_BYTES) break;
    doc.told.push(e);
    bytes += more;
  }
  return storedJson(doc);
}

export function iso(t: number): string {
  const d = new Date(t * 1000);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('.000Z', 'Z');
}
