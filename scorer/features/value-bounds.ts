// How much of a row's values is read and kept: the bounds every feature reads within and
// anomaly_scores keeps (storedColumns), in a module of their own so that the extension's
// protocol thread can cut a line to them (extension/shrink-line.ts) without the extractor.

/**
 * What features read of a row: a command line up to MAX_COMMAND characters, any other field
 * up to MAX_FIELD. A local user controls their own command lines; this bounds the work (and
 * the text a subject keeps per event) whatever they run.
 */
export const MAX_COMMAND = 4096;
export const MAX_FIELD = 1024;
const LONG_FIELDS = new Set(['cmdline', 'command', 'pcmdline']);

/**
 * The row's columns with each value as `cut` makes it within its bound (above): the same
 * object when no value changes.
 */
export function cutColumns(c: Record<string, string>, cut: (v: string, max: number) => string): Record<string, string> {
  let out: Record<string, string> | null = null;
  for (const k in c) {
    const v = c[k];
    if (typeof v !== 'string') continue;
    const w = cut(v, LONG_FIELDS.has(k) ? MAX_COMMAND : MAX_FIELD);
    if (w !== v) {
      out ??= { ...c };
      out[k] = w;
    }
  }
  return out ?? c;
}

/** (a value cut so already, a line made to fit at ingest (extension/shrink-line.ts), keeps the length it said) */
const CUT_MARK = /^… \(\d+ chars\)$/;
const truncateSaying = (v: string, max: number) => (v.length > max && !CUT_MARK.test(v.slice(max)) ? `${v.slice(0, max)}… (${v.length} chars)` : v);

/**
 * The row's columns as anomaly_scores keeps them: cut to the same bounds, each cut value
 * ending in how long it was. A local user can make osquery log command lines of a megabyte;
 * kept whole, 70 such rows passed the 64 MB a table answer may hold, and every SELECT over
 * them (the alert query `score < 0.3`, as they score bad) was refused until they aged out,
 * while a million retained rows could take a terabyte. osquery's own results log keeps the
 * whole line.
 */
export function storedColumns(c: Record<string, string>): Record<string, string> {
  return cutColumns(c, truncateSaying);
}
