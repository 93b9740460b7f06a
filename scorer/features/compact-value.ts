import { createHash } from 'crypto';

/**
 * The most characters a value of an event (a path, a program, a command template, a working
 * directory) keeps whole. Every store keyed by values (rarity's counts and days, the windows'
 * events, the tables of one copy, the process table, the LSTM's vocabulary) holds a bounded
 * number of them; a local user decides their own paths and command lines, and 20,000 of their
 * values of 900 characters each held ~140 MB (rootsafe). The longest value of the evaluation
 * sets and the real logs is 201 characters (a runc template), so none of theirs is changed.
 */
export const MAX_VALUE_CHARS = 256;
const DIGEST_CHARS = 22;
/**
 * Between the head and the digest. Latin-1 (U+00B7), as the paths and command lines it follows
 * mostly are: V8 keeps a string of Latin-1 characters in one byte a character, any other in two,
 * and the mark before (`…#`, U+2026) made every compacted value, and every pair and token that
 * holds one, twice its size (~13 MB of the scorer's heap under the flood, heapmem).
 */
const MARK = '·#';
/** the mark of the builds before heapmem: a value compacted by them (a state read back) is respelt */
const OLDER_MARK = '…#';
/** the head kept: the value's beginning, then MARK and the digest, MAX_VALUE_CHARS in all */
const HEAD_CHARS = MAX_VALUE_CHARS - DIGEST_CHARS - MARK.length;

/**
 * A value over MAX_VALUE_CHARS as its head and a digest of the whole (SHA-256, 132 bits in
 * base64url): two long values are the same value exactly when they were (a new one is still
 * new, a known one still known), and what the models read from a value's beginning (the
 * directories of a path, a template's program and first words) is still there. Shorter values,
 * and values already compacted, are returned as they are (those of an older build as this build
 * spells them).
 */
export function compactValue(value: string): string {
  if (value.length < MAX_VALUE_CHARS) return value;
  if (value.length === MAX_VALUE_CHARS)
    return value.startsWith(OLDER_MARK, HEAD_CHARS) ? ownCopy(`${value.slice(0, HEAD_CHARS)}${MARK}${value.slice(HEAD_CHARS + OLDER_MARK.length)}`) : value;
  const digest = createHash('sha256').update(value).digest('base64url').slice(0, DIGEST_CHARS);
  // copied into a string of its own: a slice of the value (and a concatenation holding it)
  // would keep the whole value alive wherever it is kept without being hashed (the process table)
  return Buffer.from(`${value.slice(0, HEAD_CHARS)}${MARK}${digest}`, 'utf8').toString('utf8');
}

/**
 * `s` as a string of its own. V8 makes a slice of 13 characters or more (`s.slice(0, 200)`)
 * a view on the string it was cut from, which then stays alive as long as the slice does: a
 * store that keeps the first 200 characters of each row's event kept the whole of it (the
 * chain suspicion's 20,000 processes under a local user's flood of long names, ~10 MB).
 * UTF-16 copies every code unit as it is, a half of a surrogate pair included.
 */
export function ownCopy(s: string): string {
  return Buffer.from(s, 'utf16le').toString('utf16le');
}
