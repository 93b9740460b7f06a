import { MAX_FIELD, storedColumns } from '../scorer/features/value-bounds';

// A result line over queue.max_line_bytes, made to fit. A local user decides how long their
// command lines are (ARG_MAX is 2 MB, 6 MB under a raised stack limit): a line past the limit
// was rejected whole, so a command padded with a megabyte of arguments was never scored, and
// the warning about it is said once a minute. Every feature reads at most the first 4,096
// characters of a command line and 1,024 of any other value, and anomaly_scores keeps no more
// (storedColumns), so the line is queued with its values cut so: scored as the whole line
// would have been, each cut value ending in how long it was.

/** the longest line the extension's server reads (server.ts DEFAULT_LIMITS.maxString): past it a line is only a size */
export const LARGEST_LINE = 16 * 1024 * 1024;

/** how deep in a line values are cut: a row's columns sit at most three levels down (diffResults.added[i]) */
const DEPTH = 4;

/** `line` with every string value cut as anomaly_scores keeps it; null when it is not JSON or still over `max` bytes */
export function shrinkLine(line: string, max: number): string | null {
  // The server reads lines of up to 16 MB, and this runs on the protocol thread: a line that
  // is large for many short values (rows, columns, nesting) has nothing to cut, and parsing it
  // made 130-490 MB of objects and took up to 2.5 s before it was refused. Only a line that
  // could fit once cut is parsed.
  if (keptBytesAtLeast(line, max) > max) return null;
  try {
    const out = JSON.stringify(cutValues(JSON.parse(line), 0));
    return Buffer.byteLength(out) <= max ? out : null;
  } catch {
    // not JSON, or nested deeper than the stack JSON.stringify writes it with
    return null;
  }
}

/**
 * A lower bound, read without parsing, of the bytes `line` is written in once cut: a string
 * without escapes is written as it is unless it is cut (and then to at least MAX_FIELD
 * characters); an escape is at most 6 bytes for one character; whitespace between tokens is
 * dropped; every other character outside strings is kept, but for a number's or a literal's
 * run, at least one byte. (A key said twice in an object is kept once by JSON.parse: osqueryd
 * writes no such line, and one is refused here for the bytes it was given.) It stops once past
 * `stop`: a line refused is read only so far.
 */
export function keptBytesAtLeast(line: string, stop = Infinity): number {
  let kept = 0;
  let i = 0;
  const n = line.length;
  while (i < n && kept <= stop) {
    const c = line.charCodeAt(i);
    if (c === 0x22) {
      let bytes = 0;
      let units = 0;
      let escaped = false;
      i++;
      while (i < n) {
        const d = line.charCodeAt(i);
        if (d === 0x22) break;
        if (d === 0x5c) {
          escaped = true;
          i++;
          bytes++;
        }
        bytes += utf8Bytes(line.charCodeAt(i));
        units++;
        i++;
      }
      i++;
      kept += 2 + (escaped ? Math.min(Math.floor(bytes / 6), MAX_FIELD) : units > MAX_FIELD ? MAX_FIELD : bytes);
    } else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      i++;
    } else if (c === 0x7b || c === 0x7d || c === 0x5b || c === 0x5d || c === 0x2c || c === 0x3a) {
      kept++;
      i++;
    } else {
      kept++;
      while (i < n && !isDelimiter(line.charCodeAt(i))) i++;
    }
  }
  return kept;
}

/** (a surrogate half counts 2: a pair is 4 bytes in UTF-8) */
const utf8Bytes = (u: number) => (u < 0x80 ? 1 : u < 0x800 || (u >= 0xd800 && u <= 0xdfff) ? 2 : 3);

const isDelimiter = (c: number) =>
  c === 0x22 || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x7b || c === 0x7d || c === 0x5b || c === 0x5d || c === 0x2c || c === 0x3a;

function cutValues(v: unknown, depth: number): unknown {
  if (depth > DEPTH || !v || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => cutValues(x, depth + 1));
  // (fromEntries: a key `__proto__` stays a key, as JSON.parse made it)
  return Object.fromEntries(Object.entries(storedColumns(v as Record<string, string>)).map(([k, x]) => [k, cutValues(x, depth + 1)]));
}
