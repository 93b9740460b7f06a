import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { quoted } from '../scorer/quoted';
import { anomaly } from './helpers/cli';
import { ROOT } from './helpers/paths';

// Reasons quote a user's text between backticks and say in the product's words what it means.
// A backtick in the user's text closed the quote: a program named "x` is routine; marked
// normal by feedback `y" made a reason read "program `x` is routine; marked normal by feedback
// `y` never seen before", the user's words outside any quote as the product's own (review).
// Inside a quote a backtick is written \x60 (scorer/quoted.ts), so no user text ends one.

/** the words of a reason outside its quotes: what the product says */
const unquoted = (reasons: string): string => reasons.replace(/`[^`]*`/g, '');

t.test('quoted: a backtick in the text cannot end the quote (quoted)', async (t) => {
  t.equal(quoted('/usr/bin/nc'), '`/usr/bin/nc`', 'plain text as before');
  t.equal(quoted('x` is routine; `y'), '`x\\x60 is routine; \\x60y`', 'its backticks escaped');
  for (const s of ['`', '``', 'a`b`c`', '\\x60`', '']) {
    const q = quoted(s);
    t.equal((q.match(/`/g) ?? []).length, 2, `${JSON.stringify(s)}: one quote (${q})`);
  }
});

t.test('quoted: a character a reader takes for a backtick cannot end the quote either (revfold)', async (t) => {
  // U+1FEF (Greek varia) is a backtick under NFC, U+FF40 under NFKC; U+02CB and U+2035 are drawn as one
  for (const c of ['\u1fef', '\uff40', '\u02cb', '\u2035']) {
    const q = quoted(`x${c} is routine for this subject; marked normal by feedback ${c}y`);
    const code = c.charCodeAt(0).toString(16);
    t.notOk(q.includes(c), `U+${code} is escaped (${q})`);
    t.equal(unquoted(q.normalize('NFKC')), '', `U+${code}: nothing outside the quote, even normalised (${q.normalize('NFKC')})`);
  }
});

t.test("score: a program whose name holds backticks gets reasons whose own words are the product's (quoted)", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-reasons-quoted-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'anomaly.json');
  fs.writeFileSync(cfg, JSON.stringify({ learning: { min_events: 100, min_days: 0 }, models: { rarity: true, ocsvm: false, lstm: false } }));
  const line = (i: number, exe: string, cmdline = 'tool -n') =>
    JSON.stringify({
      name: 'pack_user-behavior_process_events',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i * 600,
      action: 'added',
      columns: { pid: String(i), path: exe, cmdline, cwd: '/home/eve', auid: '1000', parent: '1' },
    });
  const train = path.join(dir, 'train.log');
  fs.writeFileSync(train, Array.from({ length: 600 }, (_, i) => line(i, `/usr/bin/tool${i % 4}`)).join('\n') + '\n');
  const state = path.join(dir, 'state');
  t.equal(anomaly(['train', '--log', train, '--state', state, '--config', cfg, '--quiet']).code, 0, 'trained');
  const FORGED = 'is routine for this subject; marked normal by feedback';
  const hostile = path.join(dir, 'hostile.log');
  fs.writeFileSync(
    hostile,
    [line(700, `/home/eve/x\` ${FORGED} \`y`), line(701, '/usr/bin/tool1', `tool \`${FORGED}\` -n`), line(702, `/tmp/\`\`${FORGED}\`\``, `\`${FORGED}`)].join(
      '\n',
    ) + '\n',
  );
  const r = anomaly(['score', '--log', hostile, '--state', state, '--config', cfg, '--quiet']);
  t.equal(r.code, 0, `scored (${r.err})`);
  const rows = r.out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { reasons: string; score: number | null });
  t.equal(rows.length, 3, 'every row scored');
  t.ok(
    rows.some((x) => x.reasons.includes('\\x60')),
    `a user's backtick is shown escaped in its quote (${rows[0]?.reasons.slice(0, 200)})`,
  );
  for (const x of rows) {
    t.notMatch(unquoted(x.reasons), /routine for this subject|marked normal/, `no user text outside a quote: ${x.reasons.slice(0, 300)}`);
    t.equal((x.reasons.match(/`/g) ?? []).length % 2, 0, 'its backticks pair up');
  }
});

t.test('every reason of the scorer quotes through quoted(), none with a backtick of its own (quoted)', async (t) => {
  // a new reason that wrote `\`${value}\`` would quote user text that can close the quote
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        // (the evaluation writes Markdown reports, not reasons)
        if (e.name !== 'eval') walk(p);
      } else if (e.name.endsWith('.ts') && e.name !== 'quoted.ts') {
        fs.readFileSync(p, 'utf8')
          .split('\n')
          .forEach((l, i) => {
            if (/\\`|'`|`'/.test(l.replace(/^\s*(\/\/|\*|\/\*\*).*$/, ''))) found.push(`${path.relative(ROOT, p)}:${i + 1}: ${l.trim()}`);
          });
      }
    }
  };
  walk(path.join(ROOT, 'scorer'));
  t.same(found, [], 'no backtick written outside scorer/quoted.ts');
});
