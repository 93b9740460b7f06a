import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEMO_USERS, evaluationSplit, generateDemo } from '../../demo/generate';
import { OsquerydEmulator } from '../../emulator';
import { writeReport } from '../../report/report';
import type { ModelName, ScoredEvent, ScoredWindow } from '../../scorer/types';
import { parseFlags } from '../flags';
import { progress } from '../progress';
import { CliError, EXIT } from '../exit';
import { table } from './shared';

export const help = `Usage: anomaly demo [--out DIR] [--days N] [--seed N] [--no-attacks] [--eval-split]

Run the product end to end on a fresh machine, without osqueryd: generate a multi-user,
multi-day osquery result stream for one Linux host (an admin, a developer, a service
account and the host's daemons) with six attack stories on the last day, start the
project's osqueryd emulator, let it launch the real anomaly.ext and log every line
through it, then print the bad and ugly rows as osqueryi would and write an HTML report.

Options:
  --out DIR      where the stream, state and report go (default: a new temp directory)
  --days N       days of history to generate (default 14)
  --seed N       random seed (default 7)
  --no-attacks   generate normal behaviour only
  --eval-split   only write the stream as an evaluation pair, DIR/train.log (every day but
                 the last) and DIR/test.log (the last day, lines labelled normal or
                 anomalous), for: anomaly eval --train DIR/train.log --test DIR/test.log
  --quiet        no progress output
`;

const DAY = 86400;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { out: { kind: 'value' }, days: { kind: 'value' }, seed: { kind: 'value' }, 'no-attacks': { kind: 'bool' }, 'eval-split': { kind: 'bool' }, quiet: { kind: 'bool' } });
  const days = Number(flags.days ?? 14);
  const seed = Number(flags.seed ?? 7);
  if (!Number.isInteger(days) || days < 4 || days > 60) throw new CliError('--days must be a whole number from 4 to 60', EXIT.usage);
  if (!Number.isInteger(seed)) throw new CliError('--seed must be a whole number', EXIT.usage);
  const out = path.resolve((flags.out as string | undefined) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-demo-')));
  const bar = progress(process.stderr, Boolean(flags.quiet));
  const started = Date.now();

  // the stream ends at the last midnight, so the attacks happen "yesterday"
  const today = Math.floor(Date.now() / 1000 / DAY) * DAY;
  const stream = generateDemo({ seed, days, start: today - days * DAY, host: 'web-01', attacks: !flags['no-attacks'] });
  fs.mkdirSync(out, { recursive: true });
  if (flags['eval-split']) {
    const { train, test } = evaluationSplit(stream);
    fs.writeFileSync(path.join(out, 'train.log'), train.join('\n') + '\n');
    fs.writeFileSync(path.join(out, 'test.log'), test.join('\n') + '\n');
    process.stdout.write(`wrote ${train.length} training and ${test.length} labelled test lines; evaluate with\n  anomaly eval --train ${path.join(out, 'train.log')} --test ${path.join(out, 'test.log')}\n`);
    return EXIT.ok;
  }
  const logFile = path.join(out, 'osqueryd.results.log');
  fs.writeFileSync(logFile, stream.lines.join('\n') + '\n');

  // install the extension as osqueryd wants it: a .ext file in a non-sticky directory
  const extDir = path.join(out, 'extensions');
  fs.mkdirSync(extDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(extDir, 0o755);
  const ext = path.join(extDir, 'anomaly.ext');
  fs.copyFileSync(path.resolve(__dirname, '../../../extension/anomaly.ext'), ext);
  fs.chmodSync(ext, 0o755);
  const stateDir = path.join(out, 'state');
  fs.rmSync(stateDir, { recursive: true, force: true });
  const configFile = path.join(out, 'anomaly.json');
  fs.writeFileSync(configFile, JSON.stringify({ state_dir: stateDir, log_level: 'warn', learning: { min_events: 300, min_days: 3 } }, null, 2) + '\n');

  const emu = new OsquerydEmulator({ dir: path.join(out, 'osquery'), interval: 2, timeout: 10, hostIdentifier: 'web-01', users: DEMO_USERS });
  await emu.start();
  try {
    emu.launch(ext, { env: { ANOMALY_DIST: path.resolve(__dirname, '../..'), ANOMALY_CONFIG: configFile, ANOMALY_STATE_DIR: '' } });
    await emu.waitFor('anomaly', 30_000);
    await emu.startLogger('anomaly');
    for (let i = 0; i < stream.lines.length; i++) {
      await emu.logResult('anomaly', stream.lines[i]);
      if (i % 200 === 0) bar.update('osqueryd logging results', i, stream.lines.length);
    }
    bar.update('osqueryd logging results', stream.lines.length, stream.lines.length);
    for (;;) {
      const [c] = await emu.query("SELECT queued, scored FROM anomaly_models WHERE subject = '*'");
      bar.update('anomaly.ext scoring', stream.lines.length - Number(c?.queued ?? 0), stream.lines.length);
      if (c && c.queued === '0') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    bar.done();

    const sql = "SELECT datetime(time, 'unixepoch') AS time, subject, event, printf('%.3f', score) AS score, verdict, reasons FROM anomaly_scores WHERE score < 0.3 ORDER BY time";
    const bad = await emu.query(sql);
    const uglySql = "SELECT datetime(time, 'unixepoch') AS time, subject, event, printf('%.3f', score) AS score, reasons FROM anomaly_scores WHERE score >= 0.3 AND score < 0.7 ORDER BY score LIMIT 10";
    const ugly = await emu.query(uglySql);
    const [totals] = await emu.query("SELECT count(*) AS rows, sum(verdict = 'bad') AS bad, sum(verdict = 'ugly') AS ugly, sum(verdict = 'good') AS good, sum(verdict = 'learning') AS learning FROM anomaly_scores");
    const modelsSql = "SELECT subject, group_concat(model) AS models, state, events, calibration, max(CASE model WHEN 'lstm' THEN backend END) AS lstm_backend FROM anomaly_models WHERE subject != '*' GROUP BY subject ORDER BY subject";
    const models = await emu.query(modelsSql);

    const w = (s: string) => process.stdout.write(s);
    w(`\nosquery> ${sql};\n`);
    w(table(bad, ['time', 'subject', 'event', 'score', 'reasons'], 90));
    w(`\nosquery> ${uglySql};\n`);
    w(table(ugly, ['time', 'subject', 'event', 'score', 'reasons'], 90));
    w(`\nosquery> ${modelsSql};\n`);
    w(table(models, ['subject', 'models', 'state', 'events', 'calibration', 'lstm_backend']));

    // which stories surfaced: a story is found when one of its rows is bad
    const all = await emu.query('SELECT id, time, subject, event, score, verdict, reasons, model, query, action, host, columns FROM anomaly_scores');
    const found = stream.stories.map((story) => {
      const storyRows = new Set(story.lines.map((i) => stream.lines[i]));
      const hits = all.filter((r) => r.verdict === 'bad' && [...storyRows].some((l) => l.includes(`"unixTime":${r.time},`) && sameColumns(l, r.columns)));
      return { story, hits };
    });
    w(`\n${stream.lines.length.toLocaleString('en-US')} result lines, ${days} days, ${Number(totals.rows).toLocaleString('en-US')} rows scored: ${totals.bad} bad, ${totals.ugly} ugly, ${totals.good} good, ${totals.learning} while learning.\n`);
    for (const f of found) w(`  ${f.hits.length ? 'found ' : 'missed'}  ${f.story.name} (${f.story.user})${f.hits.length ? `: ${f.hits.length} of ${f.story.lines.length} rows bad` : ''}\n`);
    const normalBad = Number(totals.bad) - found.reduce((n, f) => n + f.hits.length, 0);
    w(`  ${normalBad} bad rows outside the attack stories\n`);

    const scores: ScoredEvent[] = all.map((r) => ({ id: r.id, host: r.host, subject: r.subject, query: r.query, event: r.event, reasons: r.reasons, columns: r.columns, time: Number(r.time), score: r.score === '' ? null : Number(r.score), model: r.model as ModelName | '', action: r.action as ScoredEvent['action'], verdict: r.verdict as ScoredEvent['verdict'] }));
    const summaries = (await emu.query('SELECT subject, model, state, events, last_trained, calibration, backend FROM anomaly_models WHERE subject != \'*\'')).map((m) => ({
      subject: m.subject,
      model: m.model as ModelName,
      state: m.state as 'learning' | 'monitoring',
      events: Number(m.events),
      lastTrained: Number(m.last_trained),
      calibration: Number(m.calibration),
      backend: m.backend,
    }));
    const windows: ScoredWindow[] = (await emu.query('SELECT subject, host, start, end, events, score, verdict, model, reasons, top_ids FROM anomaly_windows')).map((r) => ({
      subject: r.subject,
      host: r.host,
      start: Number(r.start),
      end: Number(r.end),
      events: Number(r.events),
      score: r.score === '' ? null : Number(r.score),
      verdict: r.verdict as ScoredWindow['verdict'],
      model: r.model as ScoredWindow['model'],
      reasons: r.reasons,
      top_ids: r.top_ids,
    }));
    const report = await writeReport(path.join(out, 'report'), { scores, windows, models: summaries, generated: Math.floor(Date.now() / 1000), title: 'anomaly.ext demo: web-01' });
    w(`\nreport: ${report}\nresults log: ${logFile}\nfinished in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    return EXIT.ok;
  } finally {
    await emu.shutdown(5000);
  }
}

function sameColumns(line: string, columnsJson: string): boolean {
  try {
    const doc = JSON.parse(line);
    const cols = doc.columns ?? doc.snapshot?.[0];
    return JSON.stringify(cols) === columnsJson;
  } catch {
    return false;
  }
}
