import * as fs from 'fs';
import * as zlib from 'zlib';
import type { Label, ResultRow, RowAction } from '../types';
import { LARGEST_LINE, shrinkLine } from '../../extension/shrink-line';

// osquery result log lines (protocol doc §7) into rows. One parser serves the extension's
// logger and the CLI, so a line the extension would reject is rejected offline too.

export class ResultLineError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'ResultLineError';
  }
}

const EXPECTED = 'expected a JSON object with name, hostIdentifier, unixTime and columns, diffResults or snapshot';

/** keys osqueryd writes itself; any other top-level scalar is a hoisted decoration */
const STANDARD = new Set([
  'name',
  'hostIdentifier',
  'calendarTime',
  'unixTime',
  'epoch',
  'counter',
  'numerics',
  'decorations',
  'columns',
  'action',
  'diffResults',
  'snapshot',
  'label',
]);

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

export function parseResultLine(line: string): ResultRow[] {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    const trimmed = line.trimEnd();
    const hint = trimmed.startsWith('{') && !trimmed.endsWith('}') ? 'truncated JSON' : 'not JSON';
    throw new ResultLineError(`${hint} (${(err as Error).message}); ${EXPECTED}`);
  }
  return parseResultRecord(doc);
}

export function parseResultRecord(doc: unknown): ResultRow[] {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ResultLineError(`${Array.isArray(doc) ? 'an array' : typeof doc}; ${EXPECTED}`);
  const d = doc as Record<string, unknown>;
  if (typeof d.name !== 'string' || !d.name.trim()) throw new ResultLineError(`"name" must be a non-empty string (the scheduled query's name); ${EXPECTED}`);
  const query = d.name;
  const host = typeof d.hostIdentifier === 'string' ? d.hostIdentifier : d.hostIdentifier === undefined ? '' : String(d.hostIdentifier);
  const time = resultTime(d);
  const decorations: Record<string, string> = {};
  if (d.decorations !== undefined) {
    if (!d.decorations || typeof d.decorations !== 'object' || Array.isArray(d.decorations)) throw new ResultLineError('"decorations" must be an object');
    copyScalars(d.decorations as Record<string, unknown>, decorations, 'decorations');
  }
  for (const k of Object.keys(d)) {
    const v = d[k];
    if (!STANDARD.has(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) decorations[k] = String(v);
  }
  let label: Label | undefined;
  if (d.label !== undefined) {
    if (d.label !== 'normal' && d.label !== 'anomalous') throw new ResultLineError(`"label" must be "normal" or "anomalous", not ${JSON.stringify(d.label)}`);
    label = d.label;
  }
  const make = (columns: Record<string, string>, action: RowAction): ResultRow =>
    label ? { query, host, time, action, columns, decorations, label } : { query, host, time, action, columns, decorations };

  if (d.columns !== undefined) {
    const action = d.action === undefined ? 'added' : d.action;
    if (action !== 'added' && action !== 'removed' && action !== 'snapshot')
      throw new ResultLineError(`"action" must be added, removed or snapshot, not ${JSON.stringify(d.action)}`);
    return [make(columnsOf(d.columns, 'columns'), action)];
  }
  if (d.diffResults !== undefined) {
    const diff = d.diffResults as Record<string, unknown>;
    if (!diff || typeof diff !== 'object' || Array.isArray(diff)) throw new ResultLineError('"diffResults" must be an object with added and removed lists');
    const rows: ResultRow[] = [];
    // osqueryd logs removed rows before added ones; keep that order
    for (const action of ['removed', 'added'] as const) {
      const list = diff[action];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new ResultLineError(`"diffResults.${action}" must be a list of rows`);
      list.forEach((r, i) => rows.push(make(columnsOf(r, `diffResults.${action}[${i}]`), action)));
    }
    return rows;
  }
  if (d.snapshot !== undefined) {
    if (!Array.isArray(d.snapshot)) throw new ResultLineError('"snapshot" must be a list of rows');
    return d.snapshot.map((r, i) => make(columnsOf(r, `snapshot[${i}]`), 'snapshot'));
  }
  throw new ResultLineError(`no columns, diffResults or snapshot; ${EXPECTED}`);
}

/** the last second of year 9999; later (or before 1970) is no clock a host has */
const LAST_SECOND = 253_402_300_799;

function resultTime(d: Record<string, unknown>): number {
  const u = d.unixTime;
  if (typeof u === 'number' || (typeof u === 'string' && /^\d+$/.test(u))) {
    // a subject's history spans its first to its last time: one line from far in the future
    // would make that span endless, and the subject would never retrain
    const t = Math.floor(Number(u));
    if (!(t >= 0 && t <= LAST_SECOND)) throw new ResultLineError(`"unixTime" ${String(u).slice(0, 24)} is not a time osqueryd writes (0 … ${LAST_SECOND})`);
    return t;
  }
  if (typeof d.calendarTime === 'string') {
    // "Thu Mar 16 03:08:58 2023 UTC"
    const m = /^\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})/.exec(d.calendarTime);
    if (m && MONTHS[m[1]] !== undefined) {
      // the same bound as unixTime: Date.UTC reads years 0–99 as 1900–1999 and rolls a day 99
      // over, which dated rows before 1970 or after 9999
      const [day, hour, minute, second, year] = [+m[2], +m[3], +m[4], +m[5], +m[6]];
      const t = Date.UTC(year, MONTHS[m[1]], day, hour, minute, second) / 1000;
      if (year < 1970 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || !(t >= 0 && t <= LAST_SECOND))
        throw new ResultLineError(`"calendarTime" ${JSON.stringify(d.calendarTime.slice(0, 40))} is not a time osqueryd writes`);
      return t;
    }
  }
  throw new ResultLineError('"unixTime" must be a number of seconds (or calendarTime a date osquery writes)');
}

function columnsOf(value: unknown, where: string): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ResultLineError(`"${where}" must be an object of column values`);
  const out: Record<string, string> = {};
  copyScalars(value as Record<string, unknown>, out, where);
  return out;
}

function copyScalars(from: Record<string, unknown>, to: Record<string, string>, where: string): void {
  for (const k in from) {
    const v = from[k];
    if (typeof v === 'string') to[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean')
      to[k] = String(v); // --logger_numerics
    else if (v === null) to[k] = '';
    else throw new ResultLineError(`"${where}.${k}" must be a string, number or boolean, not ${Array.isArray(v) ? 'a list' : typeof v}`);
  }
}

export interface LogItem {
  file: string;
  line: number;
  rows?: ResultRow[];
  error?: Error;
}

/** consecutive bad lines at the start of a file after which it is not osquery output */
const NOT_OSQUERY_AFTER = 5;

/** the default queue.max_line_bytes (conf/config.ts): a longer line is one the extension rejects */
export const MAX_LINE_BYTES = 1024 * 1024;

/** a line over the limit: read past, not kept; its size and first byte are all that is known */
export interface LongLine {
  bytes: number;
  first: number;
}

/**
 * The lines of a stream, each at most `max` bytes; a longer one is read past and comes as
 * a LongLine. readline keeps a line whole however long it is: a log with one line of 200 MB
 * took 1.5 GB, and one past V8's longest string ended the command with a stack trace.
 * Line ends are \n, \r\n or \r, as readline's.
 */
export async function* boundedLines(input: AsyncIterable<Buffer>, max: number): AsyncGenerator<string | LongLine> {
  let parts: Buffer[] = [];
  let size = 0;
  let first = -1;
  let afterCr = false;
  const end = (): string | LongLine => {
    const line = size > max ? { bytes: size, first } : Buffer.concat(parts, size).toString('utf8');
    parts = [];
    size = 0;
    first = -1;
    return line;
  };
  for await (const chunk of input) {
    let at = 0;
    // a \n right after a \r ends nothing more: the \r ended the line
    if (afterCr && chunk.length && chunk[0] === 10) at = 1;
    let nextLf = chunk.indexOf(10, at);
    let nextCr = chunk.indexOf(13, at);
    afterCr = false;
    while (at < chunk.length) {
      // found natively: a line of hundreds of megabytes is read past at memory speed
      if (nextLf >= 0 && nextLf < at) nextLf = chunk.indexOf(10, at);
      if (nextCr >= 0 && nextCr < at) nextCr = chunk.indexOf(13, at);
      let stop = nextLf < 0 ? (nextCr < 0 ? chunk.length : nextCr) : nextCr < 0 ? nextLf : Math.min(nextLf, nextCr);
      if (stop > at) {
        if (first < 0) first = chunk[at];
        if (size + (stop - at) <= max) parts.push(chunk.subarray(at, stop));
        else parts = [];
        size += stop - at;
      }
      if (stop === chunk.length) break;
      yield end();
      if (chunk[stop] === 13) {
        if (stop + 1 < chunk.length) {
          if (chunk[stop + 1] === 10) stop++;
        } else afterCr = true;
      }
      at = stop + 1;
    }
  }
  if (size > 0) yield end();
}

/** what arrayRecords finds: a member's text, a member over the limit, or the array's shape broken */
type ArrayPart = string | LongLine | { broken: string };

/** JSON's whitespace */
const blank = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * The members of a JSON array read from a stream, each at most `max` bytes (a longer one is
 * read past and comes as a LongLine), for exports whose records are not one per line: all on
 * one line, or pretty-printed. Such a file was inflated and parsed whole, whatever its size: a
 * .gz of 250 kB that inflates to 256 MB grew resident memory by 778 MB, and a record over
 * queue.max_line_bytes was learned. Only strings and nesting are followed (every byte that
 * matters is ASCII, which UTF-8 never uses inside a character); each member is JSON.parse'd
 * by the caller.
 */
async function* arrayRecords(input: AsyncIterable<Buffer>, max: number): AsyncGenerator<ArrayPart> {
  let started = false;
  let ended = false;
  /** inside a member: its nesting depth, and where a string or an escape stands */
  let inMember = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let parts: Buffer[] = [];
  let size = 0;
  let first = -1;
  const take = (chunk: Buffer, from: number, to: number) => {
    if (to <= from) return;
    if (first < 0) first = chunk[from];
    if (size + (to - from) <= max) parts.push(chunk.subarray(from, to));
    else parts = [];
    size += to - from;
  };
  const end = (): string | LongLine => {
    const member = size > max ? { bytes: size, first } : Buffer.concat(parts, size).toString('utf8');
    parts = [];
    size = 0;
    first = -1;
    inMember = false;
    return member;
  };
  for await (const chunk of input) {
    let at = 0;
    let from = 0;
    while (at < chunk.length) {
      const b = chunk[at];
      if (ended) {
        if (!blank(b)) {
          yield { broken: 'more after the end of the array' };
          return;
        }
      } else if (!started) {
        if (b === 0x5b) started = true;
        else if (!blank(b)) {
          yield { broken: 'not a JSON array' };
          return;
        }
      } else if (!inMember) {
        if (b === 0x5d) ended = true;
        else if (b !== 0x2c && !blank(b)) {
          inMember = true;
          from = at;
          continue;
        }
      } else if (inString) {
        if (escaped) escaped = false;
        else if (b === 0x5c) escaped = true;
        else if (b === 0x22) inString = false;
      } else if (b === 0x22) inString = true;
      else if (b === 0x7b || b === 0x5b) depth++;
      else if ((b === 0x7d || b === 0x5d) && depth > 0) depth--;
      else if (depth === 0 && (b === 0x2c || b === 0x5d)) {
        take(chunk, from, at);
        yield end();
        if (b === 0x5d) ended = true;
      }
      at++;
    }
    if (inMember) take(chunk, from, chunk.length);
  }
  if (!ended) yield { broken: started ? 'the array is cut short (no closing ])' : 'empty' };
}

/**
 * Rows of results logs: JSON lines, JSON-array exports (one record per line, as osquery's
 * exports and the 2017 workstation set are written), and .gz of either. Errors name the file
 * and line; a file that is not osquery output at all ends with one clear error.
 */
export async function* readResultLogs(
  files: readonly string[],
  opts: { onProgress?(bytes: number, total: number): void; maxLineBytes?: number } = {},
): AsyncGenerator<LogItem> {
  const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
  // Given the extension's queue.max_line_bytes, a line over it is taken as the extension takes
  // it (ingest.ts): cut as anomaly_scores keeps its values, up to the longest the extension's
  // server reads; training and scoring from the log learn what the extension would
  const cutToFit = opts.maxLineBytes !== undefined;
  const readUpTo = cutToFit ? Math.max(maxLine, LARGEST_LINE) : maxLine;
  for (const file of files) {
    const raw = fs.createReadStream(file);
    const input = file.endsWith('.gz') ? raw.pipe(zlib.createGunzip()) : raw;
    const total = (() => {
      try {
        return fs.statSync(file).size;
      } catch {
        return 0;
      }
    })();
    let n = 0;
    let goodSeen = false;
    let badStreak = 0;
    let arrayMode = false;
    /** an array whose records are not one per line: read again below, a member at a time */
    let asArray = false;
    try {
      for await (const rawLine of boundedLines(input as AsyncIterable<Buffer>, readUpTo)) {
        n++;
        if (typeof rawLine !== 'string') {
          // a JSON array export on one line
          if (n === 1 && rawLine.first === 0x5b) {
            asArray = true;
            break;
          }
          // the extension would reject it (queue.max_line_bytes): so does training on it.
          // Not counted toward "not osquery output": it may be osquery's, only too long
          yield {
            file,
            line: n,
            error: new ResultLineError(`${file}:${n}: a line of ${rawLine.bytes} bytes is over the ${maxLine} a result line may have (queue.max_line_bytes)`),
          };
          continue;
        }
        let line = rawLine.trim();
        if (!line) continue;
        // (a JSON array export on one line over the limit is read a member at a time, as above)
        if (n === 1 && line.startsWith('[') && cutToFit && Buffer.byteLength(line) > maxLine) {
          asArray = true;
          break;
        }
        if (n === 1 && line.startsWith('[')) {
          arrayMode = true;
          line = line.slice(1).trim();
          if (!line) continue;
        }
        if (arrayMode) {
          // one record per line: `{…},` and a final `{…}]`; a record itself ends with `}`
          if (line === ']') continue;
          if (line.endsWith(']')) line = line.slice(0, -1).trimEnd();
          if (line.endsWith(',')) line = line.slice(0, -1);
        }
        if (cutToFit && line.length > maxLine / 3 && Buffer.byteLength(line) > maxLine) {
          const bytes = Buffer.byteLength(line);
          const cut = shrinkLine(line, maxLine);
          if (cut === null) {
            yield {
              file,
              line: n,
              error: new ResultLineError(
                `${file}:${n}: a line of ${bytes} bytes is over the ${maxLine} a result line may have (queue.max_line_bytes), even with its values cut as they are kept`,
              ),
            };
            continue;
          }
          line = cut;
        }
        try {
          const rows = parseResultLine(line);
          goodSeen = true;
          badStreak = 0;
          yield { file, line: n, rows };
        } catch (err) {
          // an array not laid out one record per line (on one line, pretty-printed): until a
          // record has parsed, no line of it is known to be one
          if (arrayMode && !goodSeen) {
            asArray = true;
            break;
          }
          badStreak++;
          if (!goodSeen && badStreak >= NOT_OSQUERY_AFTER) {
            yield { file, line: 1, error: new ResultLineError(`${file}: line 1: not osquery results output (${EXPECTED}, one per line)`) };
            break;
          }
          yield { file, line: n, error: new ResultLineError(`${file}:${n}: ${(err as Error).message}`) };
        }
        if (opts.onProgress && n % 1000 === 0) opts.onProgress(raw.bytesRead, total);
      }
    } catch (err) {
      yield { file, line: n, error: new ResultLineError(`${file}: ${(err as Error).message}`) };
      continue;
    } finally {
      raw.destroy();
    }
    if (asArray) {
      // the records are not one per line: read the file again, a member at a time
      const again = fs.createReadStream(file);
      let i = 0;
      let good = 0;
      try {
        for await (const part of arrayRecords(file.endsWith('.gz') ? again.pipe(zlib.createGunzip()) : again, maxLine)) {
          if (typeof part === 'object' && 'broken' in part) {
            yield {
              file,
              line: i + 1,
              error: new ResultLineError(good ? `${file}: after record ${i}: ${part.broken}` : `${file}: not osquery results output (${part.broken})`),
            };
            break;
          }
          i++;
          if (typeof part !== 'string') {
            yield {
              file,
              line: i,
              error: new ResultLineError(
                `${file}: record ${i}: a record of ${part.bytes} bytes is over the ${maxLine} a result line may have (queue.max_line_bytes)`,
              ),
            };
            continue;
          }
          try {
            yield { file, line: i, rows: parseResultLine(part) };
            good++;
          } catch (err) {
            yield { file, line: i, error: new ResultLineError(`${file}: record ${i}: ${(err as Error).message}`) };
          }
        }
      } catch (err) {
        yield { file, line: i, error: new ResultLineError(`${file}: ${(err as Error).message}`) };
      } finally {
        again.destroy();
      }
    }
    opts.onProgress?.(total, total);
  }
}
