import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { cutColumns } from '../extension/tables/answer';
import { shownRow, textColumns } from '../extension/plugin/table';
import { SCORE_COLUMNS, scoreRow } from '../extension/tables/scores';
import { WINDOW_COLUMNS, windowRow } from '../extension/tables/windows';
import type { ScoredEvent, ScoredWindow } from '../scorer/types';
import { STORED_MARK } from '../state/retained';
import { RetainedScores } from '../state/scores';
import { RetainedWindows } from '../state/windows';
import { emulated, lsLine, until } from './helpers/emulated';
import { plainRow } from './helpers/scored';

// What the tables hand osqueryd of a local user's own text (review rev10). osqueryd passes an
// extension's cells to SQLite as they are, and from there they go where the operator reads
// them: osqueryi's table prints each cell with printf("%s") (osquery/devtools/printer.cpp), no
// escaping, so an ESC in an `event` drives the root operator's terminal (`ESC [ A` `ESC [ K`
// erase the rows above it: another account's alert), a NUL ends the printed row there
// (hiding its score and reasons), a CR or newline forges rows; osqueryd's loggers and a
// fleet manager's UI carry C1 controls and bidi overrides on. The command line, the report
// and the log escape all of these; the tables did not.

t.setTimeout(600_000);

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}\u3164]/u;

/** a shell_history line of eve's whose command is `command` */
const historyLine = (i: number, command: string) =>
  JSON.stringify({
    name: 'pack_user-behavior_shell_history',
    hostIdentifier: 'h',
    unixTime: 1_790_000_000 + i,
    action: 'added',
    columns: { uid: '1000', username: 'eve', time: String(1_790_000_000 + i), command, history_file: '/home/eve/.bash_history' },
  });

const HOSTILE = [
  'ls\u0000 hidden by a NUL',
  'x\r\u001b[K\u001b[A\u001b[K\u001b[A\u001b[Kerase the rows above',
  'two\nlines | forged | row',
  'csi\u009b2J\u0085nel\u007fdel',
  'cat \u202e/etc/shadow \u2066iso\u2069',
  '/usr/bin/su\u200bdo \u{e0072}tag \u3164filler',
];

t.test('the tables show, not pass on, the controls and hidden characters of a local user text', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  const columns = { command: HOSTILE.join(' '), path: HOSTILE[1] };
  const rows: ScoredEvent[] = HOSTILE.map((h, i) =>
    plainRow(i, {
      id: `r-${i}`,
      time: now - 100 + i,
      subject: 'eve',
      event: `shell ${h}`,
      score: 0.01,
      verdict: 'bad',
      reasons: `new tool: program \`${h}\` never seen before (in 3 events)`,
      columns: JSON.stringify(columns),
    }),
  );
  // a flood past what one subject may have on the alert route: its summary names its events
  const flood = Array.from({ length: 2_100 }, (_, i) =>
    plainRow(100 + i, {
      id: `f-${i}`,
      time: now - 5000 + i,
      subject: 'mallory',
      event: `shell ${HOSTILE[i % HOSTILE.length]} ${i % 40}`,
      score: 0.02,
      verdict: 'bad',
      reasons: `\`${HOSTILE[i % 6]}\``,
      columns: JSON.stringify(columns),
    }),
  );
  const scores = new RetainedScores({ dir: path.join(e.stateDir, 'scores'), maxRows: 100_000, maxDays: 3650 });
  scores.append([...flood, ...rows]);
  scores.close();
  const window: ScoredWindow = {
    subject: 'eve',
    host: 'h',
    start: now - 600,
    end: now,
    events: 6,
    score: 0.01,
    verdict: 'bad',
    model: 'mix',
    reasons: `unusual mix: ${HOSTILE.map((h) => `\`shell ${h}\``).join(', ')}`,
    top_ids: 'r-0,r-1',
  };
  const windows = new RetainedWindows({ dir: path.join(e.stateDir, 'window-scores'), maxRows: 1000, maxDays: 3650 });
  windows.append([window]);
  windows.close();
  await e.launch();
  // and one line through the extension itself: the event it makes of a history line keeps
  // the user's command
  await e.emu.logResult('anomaly', historyLine(1, HOSTILE[0] + HOSTILE[1]));
  await until(
    async () => (await e.emu.query("SELECT scored FROM anomaly_models WHERE subject = '*'"))[0],
    (c) => Number(c.scored) === 1,
  );

  const checked = async (label: string, sql: string, cells: string[]) => {
    const got = await e.emu.query(sql);
    t.ok(got.length > 0, `${label}: rows`);
    for (const c of cells) {
      const raw = got.filter((r) => RAW.test(r[c] ?? ''));
      t.equal(
        raw.length,
        0,
        `${label}: no ${c} holds a raw control or hidden character${raw.length ? ` (${raw.length} do: ${JSON.stringify(raw[0][c].slice(0, 80))})` : ''}`,
      );
    }
    return got;
  };
  const all = await checked('every row', 'SELECT id, event, reasons, columns FROM anomaly_scores', ['event', 'reasons', 'columns']);
  const alert = await checked('the alert route', 'SELECT id, event, reasons, columns, model FROM anomaly_scores WHERE score < 0.3', [
    'event',
    'reasons',
    'columns',
  ]);
  t.ok(
    alert.some((r) => r.model === 'held-back'),
    'the flood is summed up in a summary row',
  );
  const one = await checked('a row named by id', "SELECT id, event, reasons, columns FROM anomaly_scores WHERE id = 'r-1'", ['event', 'reasons', 'columns']);
  await checked('windows', 'SELECT subject, reasons, top_ids FROM anomaly_windows', ['reasons', 'top_ids']);
  await checked('the extension scored', "SELECT id, event, reasons, columns FROM anomaly_scores WHERE subject = 'eve' AND time = 1790000001", [
    'event',
    'reasons',
    'columns',
  ]);

  // shown as the command line shows them, and the columns the same JSON
  t.match(one[0].event, /^shell x\\r\\x1b\[K\\x1b\[A/, 'the escape sequence is shown as text');
  t.same(JSON.parse(one[0].columns), columns, 'the columns are the same JSON: every value exact');
  const zero = all.find((r) => r.id === 'r-0');
  t.match(zero?.event, /^shell ls\\x00 hidden by a NUL$/, 'the NUL is shown, and the rest of the cell with it');
});

t.test("a cell shown takes no more bytes than its record's stored line, which the answer's budget counts", async (t) => {
  // an answer's budget counts a record at its stored line's bytes (answer.ts answerShare):
  // shown larger than stored (DEL stored in one byte, shown as `\x7f` in four) an answer of
  // them would pass the 64 MB the server refuses, the alert answer rootsafe had refused
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-shown-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const heavy = ['\u007f', '\u009b', '\u200b', '\u{e0072}', '\u00ad', '\u0001', '\b', '\f', '"', '\\'];
  const records = heavy.map((c, i) => {
    const text = c.repeat(500);
    return plainRow(i, {
      subject: text.slice(0, 40),
      host: text.slice(0, 20),
      event: `shell ${text}`,
      reasons: `\`${text}\``,
      columns: JSON.stringify({ cmdline: text }),
    });
  });
  const store = new RetainedScores({ dir, maxRows: 1000, maxDays: 3650 });
  store.append(records);
  store.close();
  const lines = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean))
    // (each segment's first line is its mark, no record)
    .filter((line) => line !== STORED_MARK);
  t.equal(lines.length, records.length, 'every record stored');
  lines.forEach((line, i) => {
    const shown = shownRow(scoreRow(records[i]), textColumns(SCORE_COLUMNS));
    const cells = Object.values(shown).reduce((n, v) => n + Buffer.byteLength(v ?? ''), 0);
    const name = `U+${heavy[i].codePointAt(0)!.toString(16).padStart(4, '0')}`;
    t.ok(cells <= Buffer.byteLength(line), `${name}: shown ${cells} bytes, stored ${Buffer.byteLength(line)}`);
    t.same(JSON.parse(line), records[i], 'and the stored line reads back as the record');
    t.ok(Buffer.byteLength(cutColumns(shown.columns!, 1024)) <= 1024, 'a cut of the shown columns stays within its bound');
    t.notOk(RAW.test(cutColumns(shown.columns!, 1024)), 'and shows what it keeps');
  });
  const w = shownRow(
    windowRow({
      subject: 's',
      host: 'h',
      start: 0,
      end: 1,
      events: 1,
      score: 0,
      verdict: 'bad',
      model: 'mix',
      reasons: '\u007f'.repeat(100),
      top_ids: '',
    }),
    textColumns(WINDOW_COLUMNS),
  );
  t.notOk(RAW.test(w.reasons!), "a window's reasons are shown too");
});

t.test('a result line over queue.max_line_bytes is scored with its values cut as they are kept, not rejected unscored', async (t) => {
  // a local user pads their command with a megabyte of arguments (printable: ARG_MAX is 2 MB,
  // up to 6 MB under a raised stack limit): the line passed queue.max_line_bytes and was
  // rejected, so the command was never scored, whatever it did; the warning about it is said
  // once a minute. Every feature reads the first 4,096 characters of a command line
  const e = await emulated({ config: { learning: { min_events: 100000, min_days: 0 } } });
  t.teardown(() => e.close());
  await e.launch();
  const row = JSON.parse(lsLine(1));
  const cmdline = `python3 -c 'import socket,os,pty' ${'A'.repeat(1_500_000)}`;
  await e.emu.logResult('anomaly', JSON.stringify({ ...row, columns: { ...row.columns, cmdline, cwd: `/tmp/${'d'.repeat(2_000)}` } }));
  const counters = await until(
    async () => (await e.emu.query("SELECT received, rejected, queued, scored FROM anomaly_models WHERE subject = '*'"))[0],
    (c) => Number(c.received) === 1 && Number(c.queued) === 0,
  );
  t.equal(Number(counters.rejected), 0, 'not rejected');
  t.equal(Number(counters.scored), 1, 'scored');
  const [got] = await e.emu.query(`SELECT event, columns FROM anomaly_scores WHERE time = ${row.unixTime}`);
  t.ok(got, 'its row is in anomaly_scores');
  const cols = JSON.parse(got?.columns ?? '{}') as Record<string, string>;
  t.match(cols.cmdline, /^python3 -c 'import socket,os,pty' A+… \(1500034 chars\)$/, 'its command line as kept, saying how long it was');
  t.match(cols.cwd, /… \(2005 chars\)$/, 'and its other long values');
  t.equal(cols.path, row.columns.path, 'short values as they were');
});
