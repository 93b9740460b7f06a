// Characters of untrusted text (a program a local user named, a command line, a value osqueryd
// echoes) that a reader does not see as themselves: the C1 controls and DEL (CSI U+009B is
// obeyed by xterm like ESC [, NEL U+0085 is a line break to some log readers), the line and
// paragraph separators, and every format character (Unicode category Cf): the bidi overrides
// and isolates that reorder text (`invoice<U+202E>gpj.exe` reads "invoiceexe.jpg"), and the
// marks, joiners and spaces that show nothing at all: zero-width space U+200B, the
// left-to-right and right-to-left marks U+200E/F, the Arabic letter mark U+061C, the word
// joiner U+2060, the byte order mark U+FEFF, soft hyphen U+00AD, and the tag characters
// U+E0000–E007F; the Hangul fillers, letters drawn as blanks; and the rest of Unicode's
// default-ignorable characters, which are marks or letters yet draw nothing: the variation
// selectors (U+FE00–FE0F, U+E0100–E01EF), the combining grapheme joiner U+034F, the Khmer
// inherent vowels U+17B4/5, the Mongolian free variation selectors (review rev2). Shown raw,
// `/usr/bin/su<U+200B>do` reads `/usr/bin/sudo`: an alert on a user's own program looks like
// root's routine sudo, a false alarm to label normal. Each caller escapes them, and C0 as its
// output needs, through one set, so the report, the command line and the log agree.

const HIDDEN_CLASS = '\\x7f-\\x9f\\u2028\\u2029\\u115f\\u1160\\u3164\\uffa0\\p{Cf}\\p{Default_Ignorable_Code_Point}';

/** a global pattern of the hidden characters and the C0 range `c0` (a class body, '' for none) */
export function hiddenChars(c0: string): RegExp {
  return new RegExp(`[${c0}${HIDDEN_CLASS}]`, 'gu');
}

/** `\xNN` up to U+00FF, `\uNNNN` in the BMP, `\u{NNNNN}` beyond */
export function codeEscape(c: string): string {
  const code = c.codePointAt(0)!;
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  return code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
}

/** `\uNNNN` for each UTF-16 unit, as JSON writes any character */
export function jsonEscape(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

const SHOWN_HIDDEN = hiddenChars('\\x00-\\x08\\x0b-\\x1f');

/**
 * Untrusted text for a reader that keeps its lines and tabs (a CLI message, a report cell,
 * where HTML shows them as spaces): every other C0 control and every hidden character
 * escaped with `codeEscape`, so none drives a terminal or hides in what is shown
 */
export function showHidden(text: string): string {
  return text.replace(SHOWN_HIDDEN, codeEscape);
}

const LINE_HIDDEN = hiddenChars('\\x00-\\x1f');
/** JSON's own short escapes, which take no more bytes than JSON.stringify gives them */
const SHORT_ESCAPES: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/**
 * Untrusted text for a reader that shows it on one line as it is (a table cell at a terminal,
 * osqueryi's printf of an extension's answer): every C0 control (newline and tab as `\n`,
 * `\t`: a cell is one line; NUL ends a C string, and with it the printed row) and every hidden
 * character escaped. An escape never takes more bytes than JSON gives the character in a
 * stored record (storedJson), which is what answers are budgeted by.
 */
export function oneLine(text: string): string {
  return PRINTABLE_ASCII.test(text) ? text : text.replace(LINE_HIDDEN, (c) => SHORT_ESCAPES[c] ?? codeEscape(c));
}

/** (the common case, tested at a fraction of the cost of the classes of Unicode properties) */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const ASCII = /^[^\u007f-\uffff]*$/;

const JSON_HIDDEN = hiddenChars('');

/**
 * JSON text (JSON.stringify's: C0 escaped already) with the hidden characters as `\u`
 * escapes too: the same JSON, parsed to the same value, and nothing in it drives a terminal
 */
export function jsonShown(json: string): string {
  return ASCII.test(json) ? json : json.replace(JSON_HIDDEN, jsonEscape);
}

/** JSON.stringify(value) as jsonShown writes it: a record stored so counts each hidden character at its shown size */
export function storedJson(value: unknown): string {
  return jsonShown(JSON.stringify(value));
}

const ONE_HIDDEN = new RegExp(`^[${HIDDEN_CLASS}]$`, 'u');
/** the answer for each BMP unit once asked (0 not yet, 1 no, 2 yes): a cut measures every character of a cell */
const BMP_HIDDEN = new Uint8Array(0x10000);
/** whether one character (a code point: one or two UTF-16 units) is a hidden one */
export function isHidden(c: string): boolean {
  return c.length === 1 ? isHiddenUnit(c.charCodeAt(0)) : ONE_HIDDEN.test(c);
}

/** whether a UTF-16 unit of the BMP (not a surrogate) is a hidden character */
export function isHiddenUnit(code: number): boolean {
  BMP_HIDDEN[code] ||= ONE_HIDDEN.test(String.fromCharCode(code)) ? 2 : 1;
  return BMP_HIDDEN[code] === 2;
}
