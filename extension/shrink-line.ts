import { storedColumns } from '../scorer/features/value-bounds';

// A result line over queue.max_line_bytes, made to fit. A local user decides how long their
// command lines are (ARG_MAX is 2 MB, 6 MB under a raised stack limit): a line past the limit
// was rejected whole, so a command padded with a megabyte of arguments was never scored, and
// the warning about it is said once a minute. Every feature reads at most the first 4,096
// characters of a command line and 1,024 of any other value, and anomaly_scores keeps no more
// (storedColumns), so the line is queued with its values cut so: scored as the whole line
// would have been, each cut value ending in how long it was.

/** how deep in a line values are cut: a row's columns sit at most three levels down (diffResults.added[i]) */
const DEPTH = 4;

/** `line` with every string value cut as anomaly_scores keeps it; null when it is not JSON or still over `max` bytes */
export function shrinkLine(line: string, max: number): string | null {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return null;
  }
  const out = JSON.stringify(cutValues(doc, 0));
  return Buffer.byteLength(out) <= max ? out : null;
}

function cutValues(v: unknown, depth: number): unknown {
  if (depth > DEPTH || !v || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => cutValues(x, depth + 1));
  // (fromEntries: a key `__proto__` stays a key, as JSON.parse made it)
  return Object.fromEntries(Object.entries(storedColumns(v as Record<string, string>)).map(([k, x]) => [k, cutValues(x, depth + 1)]));
}
