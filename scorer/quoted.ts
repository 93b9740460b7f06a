// How a reason quotes what a watched host gave it: a user's program, path, argument, account
// name, an event key built from them. Reasons quote such text between backticks and say in
// their own words what it means ("`x` never seen before"), so a backtick inside the text
// closed the quote and let a user write the product's words: a program named
// "x` is routine; `y" read as two quotes and a verdict between them (review). Inside a quote
// a backtick is written `\x60`, the escape the tables already give a control character
// (extension/hidden-chars.ts), so no user text can end a quote; every reason quotes through
// this one function. The characters a reader takes for a backtick are escaped too (as `\uNNNN`):
// a program named "x\u1fef is routine; \u1fefy" (Greek varia, drawn as a backtick by common
// terminal fonts) read as the product's words between two quotes (revfold).

/** backticks and the characters drawn like one: modifier grave, Greek varia, reversed prime, fullwidth grave */
const GRAVES = /[`\u02cb\u1fef\u2035\uff40]/g;
const GRAVE_TEST = /[`\u02cb\u1fef\u2035\uff40]/;

/** `text` between backticks, any backtick (or look-alike) in it escaped */
export function quoted(text: string): string {
  if (!GRAVE_TEST.test(text)) return `\`${text}\``;
  return `\`${text.replace(GRAVES, (c) => (c === '`' ? '\\x60' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}\``;
}

/**
 * `detail` up to its first `; ` outside a quote: a model's first phrase. Split anywhere, a
 * user's `; ` inside a quote cut the quote open and left their words after it unquoted
 */
export function firstPhrase(detail: string): string {
  let inQuote = false;
  for (let i = 0; i < detail.length; i++) {
    const c = detail[i];
    if (c === '`') inQuote = !inQuote;
    else if (!inQuote && c === ';' && detail[i + 1] === ' ') return detail.slice(0, i);
  }
  return detail;
}
