// FNV-1a over UTF-16 code units: the one string hash of the project (feature hashing,
// score ids, the retained-score id index, the train ledger). Not cryptographic.

/** 32-bit FNV-1a, unsigned */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** 64-bit FNV-1a as 16 hex digits, computed in 16-bit limbs to stay in Smi arithmetic */
export function fnv1a64(text: string): string {
  let h0 = 0x2325,
    h1 = 0x8422,
    h2 = 0x9ce4,
    h3 = 0xcbf2;
  for (let i = 0; i < text.length; i++) {
    h0 ^= text.charCodeAt(i);
    // multiply by the FNV prime 2^40 + 0x1b3 in 16-bit limbs
    const t0 = h0 * 0x1b3,
      t1 = h1 * 0x1b3,
      t2 = h2 * 0x1b3 + (h0 << 8),
      t3 = h3 * 0x1b3 + (h1 << 8);
    const c1 = t1 + (t0 >>> 16);
    const c2 = t2 + (c1 >>> 16);
    h3 = (t3 + (c2 >>> 16)) & 0xffff;
    h2 = c2 & 0xffff;
    h1 = c1 & 0xffff;
    h0 = t0 & 0xffff;
  }
  return [h3, h2, h1, h0].map((x) => x.toString(16).padStart(4, '0')).join('');
}
