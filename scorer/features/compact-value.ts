import { createHash } from 'crypto';

/**
 * The most characters a value of an event (a path, a program, a working directory) keeps whole.
 * Every store keyed by values (rarity's counts and days, the windows' events, the tables of one
 * copy, the process table, the LSTM's vocabulary) holds a bounded number of them; a local user
 * decides their own paths and command lines, and 20,000 of their values of 900 characters each
 * held ~140 MB (rootsafe). The longest value of the evaluation sets and the real logs is 201
 * characters (a runc template), so none of theirs is changed.
 */
export const MAX_VALUE_CHARS = 256;
const DIGEST_CHARS = 22;
/**
 * Between the head and the digest. Latin-1 (U+00B7), as the paths and command lines it follows
 * mostly are: V8 keeps a string of Latin-1 characters in one byte a character, any other in two,
 * and the mark before (`…#`, U+2026) made every compacted value, and every pair and token that
 * holds one, twice its size (~13 MB of the scorer's heap under the flood, heapmem).
 */
export const DIGEST_MARK = '·#';
/** the mark of the builds before heapmem: a value compacted by them (a state read back) is respelt */
const OLDER_MARK = '…#';
/** either mark in a raw value (withoutMarks) */
const MARK_IN_RAW = /([·…])#/g;

/**
 * A raw value (a column of a row, before any feature is made of it) with neither mark in it:
 * each mark's `#` spelt `?` (`a·#b` as `a·?b`, `a…#b` as `a…?b`). A local user names their own
 * files and writes their own command lines: one spelling a compacted form
 * (`nightly-ledger-snapsho·#3x6I2tyO`, a known template's long word) was that compacted value,
 * known though its real value was never seen, and a raw value with the older mark where
 * compactValue looks for it was respelt as a compacted one of this build (markguard). A
 * compacted value is now made only by compaction. As long as the value was (its bounds hold),
 * and the same value when it holds no `#`, as every value of the evaluation sets does.
 */
export function withoutMarks(raw: string): string {
  return raw.includes('#') ? raw.replace(MARK_IN_RAW, '$1?') : raw;
}

/**
 * The most characters a word of a long line's command template keeps whole (extract.ts
 * commandTemplate): a template is compared word by word with the program's known ones
 * (rarity.ts isKnownLine, widenedOperands), so it is bounded a word at a time, each word in its
 * place. 8 characters of digest (48 bits) tell apart the long words of one position.
 */
export const TEMPLATE_WORD_CHARS = 32;
const WORD_DIGEST_CHARS = 8;

/**
 * The most characters a command template (`cmd`) keeps: its form bounds it, word by word (at
 * most 24 words of TEMPLATE_WORD_CHARS and 6 option names of 33, 995 characters; extract.ts),
 * and a value cut past that would lose its words' places. Only a template of an older build
 * could be longer.
 */
export const MAX_TEMPLATE_CHARS = 1024;

/**
 * `value` over `max` characters as its head and a digest of the whole (SHA-256 in base64url),
 * `max` characters in all: two long values are the same value exactly when they were (a new one
 * is still new, a known one still known), and what is read from a value's beginning (the
 * directories of a path, a template's program and first words) is still there. Shorter values,
 * and values already compacted, are returned as they are (those of an older build as this build
 * spells them).
 */
function headAndDigest(value: string, max: number, digestChars: number): string {
  if (value.length <= max) return value;
  const digest = createHash('sha256').update(value).digest('base64url').slice(0, digestChars);
  // copied into a string of its own: a slice of the value (and a concatenation holding it)
  // would keep the whole value alive wherever it is kept without being hashed (the process table)
  return Buffer.from(`${value.slice(0, max - digestChars - DIGEST_MARK.length)}${DIGEST_MARK}${digest}`, 'utf8').toString('utf8');
}

/** the characters of a value compacted at MAX_VALUE_CHARS before its mark */
const HEAD_CHARS = MAX_VALUE_CHARS - DIGEST_CHARS - DIGEST_MARK.length;

/** a value over `max` (MAX_VALUE_CHARS) characters as its head and a digest of the whole */
export function compactValue(value: string, max = MAX_VALUE_CHARS): string {
  // the builds before heapmem compacted every value, a command template's too, at MAX_VALUE_CHARS
  if (value.length === MAX_VALUE_CHARS && value.startsWith(OLDER_MARK, HEAD_CHARS))
    return ownCopy(`${value.slice(0, HEAD_CHARS)}${DIGEST_MARK}${value.slice(HEAD_CHARS + OLDER_MARK.length)}`);
  return headAndDigest(value, max, DIGEST_CHARS);
}

/** what follows an older build's mark in a key or token: the digest, up to a separator or the end (a key cut within it) */
const OLDER_DIGEST = /^(?:[\w-]{22}(?:[ >]|$)|[\w-]{0,21}$)/;

/**
 * An event key or a token an older build saved (`exec /usr/bin/ssh <- /opt/…/x…#Qm…`,
 * `parent=/opt/…/x…#Qm…>exe=…`) with each value it compacted spelt as this build spells it:
 * HEAD_CHARS characters after the start or a separator (the space before a key's value, the
 * `=` before a token's), the older mark, and a digest up to a separator (` `, `>`) or the end,
 * the shape compactValue respells in a value alone. The stores keyed by whole keys and tokens
 * (a subject's saved events, the windows' keys, the LSTM's vocabulary, the sequences' steps)
 * read them back so; a value compacted before heapmem was new once after it otherwise. A raw
 * value's `…#` (this build spells it `…?`, withoutMarks) is left as saved.
 */
export function currentMarks(saved: string): string {
  if (!holdsOlderMark(saved)) return saved;
  let out = saved;
  for (let at = out.indexOf(OLDER_MARK, HEAD_CHARS); at >= 0; at = out.indexOf(OLDER_MARK, at + OLDER_MARK.length)) {
    const start = at - HEAD_CHARS;
    if ((start === 0 || out[start - 1] === ' ' || out[start - 1] === '=') && OLDER_DIGEST.test(out.slice(at + OLDER_MARK.length)))
      out = `${out.slice(0, at)}${DIGEST_MARK}${out.slice(at + OLDER_MARK.length)}`;
  }
  return out;
}

/** whether a saved key or token may hold a value an older build compacted (currentMarks): a short one cannot */
export function holdsOlderMark(saved: string): boolean {
  return saved.length > HEAD_CHARS && saved.includes(OLDER_MARK, HEAD_CHARS);
}

/**
 * A word of a long line's template over TEMPLATE_WORD_CHARS characters as its head and a short
 * digest of it. A word with the miner's wildcard in it (`arn:aws:eks:eu-west-1:<*>:cluster/x`)
 * ends in one still: it is no operand of the template (rarity.ts operandsOf), as it was whole.
 */
export function compactWord(word: string): string {
  if (word.length <= TEMPLATE_WORD_CHARS) return word;
  const wildcard = word.includes('<*>') ? '<*>' : '';
  return headAndDigest(word, TEMPLATE_WORD_CHARS - wildcard.length, WORD_DIGEST_CHARS) + wildcard;
}

/** a field's value as every store keeps it: a command template within its own bound, any other within MAX_VALUE_CHARS */
export function compactFieldValue(field: string, value: string): string {
  return compactValue(value, field === 'cmd' ? MAX_TEMPLATE_CHARS : MAX_VALUE_CHARS);
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
