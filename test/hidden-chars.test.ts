import t from 'tap';
import { cellText, jsonText, printable } from '../cli/commands/shared';
import { escapeControl } from '../extension/log';
import { visible } from '../report/report';

// Characters that draw nothing but are not format characters (Unicode category Mn, Lo): the
// variation selectors, the combining grapheme joiner, the Khmer inherent vowels, the
// Mongolian free variation selectors. `/usr/bin/su<U+FE0F>do` reads `/usr/bin/sudo`.
const INVISIBLE = ['\ufe0f', '\u034f', '\u17b4', '\u180b', '\u{e0100}', '\u{1d173}'];

t.test('every default-ignorable character is escaped wherever untrusted text is shown', async (t) => {
  for (const c of INVISIBLE) {
    const name = `/usr/bin/su${c}do`;
    const code = c.codePointAt(0)!.toString(16);
    for (const [where, out] of [
      ['cellText', cellText(name)],
      ['printable', printable(name)],
      ['jsonText', jsonText(name)],
      ['log', escapeControl(name)],
      ['report', visible(name)],
    ] as const) {
      t.notOk(out.includes(c), `${where}: U+${code} is not shown raw`);
      t.not(out, name, `${where}: U+${code} is escaped`);
    }
  }
});

t.test('ordinary letters, marks that draw and emoji are not escaped', async (t) => {
  for (const s of ['café', 'naïve', 'Ελληνικά', '日本語', 'e\u0301', '❤']) {
    t.equal(cellText(s), s, s);
  }
});
