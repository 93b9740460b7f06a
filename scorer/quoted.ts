// How a reason quotes what a watched host gave it: a user's program, path, argument, account
// name, an event key built from them. Reasons quote such text between backticks and say in
// their own words what it means ("`x` never seen before"), so a backtick inside the text
// closed the quote and let a user write the product's words: a program named
// "x` is routine; `y" read as two quotes and a verdict between them (review). Inside a quote
// a backtick is written `\x60`, the escape the tables already give a control character
// (extension/hidden-chars.ts), so no user text can end a quote; every reason quotes through
// this one function.

/** `text` between backticks, any backtick in it escaped */
export function quoted(text: string): string {
  return `\`${text.includes('`') ? text.replaceAll('`', '\\x60') : text}\``;
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
