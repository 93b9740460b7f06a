// A count as the reasons print it (`1,824`). `toLocaleString('en-US')` asks ICU every time,
// ~0.5 µs, and rarity's reason names its history's size for nearly every row it scores;
// the counts a scorer prints change only when its models learn, so a few hundred cover them.

const MEMO_ENTRIES = 256;
const memo = new Map<number, string>();

/** `n.toLocaleString('en-US')`, the same string, remembered */
export function countText(n: number): string {
  let text = memo.get(n);
  if (text === undefined) {
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    memo.set(n, (text = n.toLocaleString('en-US')));
  }
  return text;
}
