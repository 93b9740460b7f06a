import * as fs from 'fs';
import * as path from 'path';
import { resolveConfig } from '../../../conf/config';
import { metrics } from '../metrics';
import { runEval } from '../run';
import type { ScoredEvent } from '../../types';
import { generateScenarios, type ScenarioOptions } from './generate';
import { windowReport, type ListedWindow } from './window-report';
import { DAY } from './world';

// node dist/scorer/eval/scenarios/main.js --out DIR [--days 21] [--seed 11] [--stories independent|heldout|heldout3|heldout4|heldout5|heldout6 [--no-scanners]] [--eval] [--models rarity,ocsvm,lstm]
// Writes DIR/train.log and DIR/test.log (for `anomaly eval`) and, with --eval, scores them as
// the product does and prints a table per story.

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
  };
  const out = path.resolve(arg('out', 'scenarios-out'));
  const days = Number(arg('days', '21'));
  const seed = Number(arg('seed', '11'));
  const start = Number(arg('start', String(1_767_225_600))); // Thu 1 Jan 2026, fixed: the figures do not move with the date
  const stories = arg('stories', 'independent');
  if (!['independent', 'heldout', 'heldout3', 'heldout4', 'heldout5', 'heldout6'].includes(stories))
    throw new Error(`--stories: independent, heldout, heldout3, heldout4, heldout5 or heldout6, not ${stories}`);
  const set = generateScenarios({
    seed,
    days,
    start: Math.floor(start / DAY) * DAY,
    stories: stories as ScenarioOptions['stories'],
    scanners: !argv.includes('--no-scanners'),
  });
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'train.log'), set.train.join('\n') + '\n');
  fs.writeFileSync(path.join(out, 'test.log'), set.test.join('\n') + '\n');
  process.stdout.write(`wrote ${set.train.length} training and ${set.test.length} labelled test lines to ${out}\n`);
  if (!argv.includes('--eval')) return;
  const wanted = arg('models', 'rarity,ocsvm,lstm').split(',');
  const config = resolveConfig(
    { models: { rarity: wanted.includes('rarity'), ocsvm: wanted.includes('ocsvm'), lstm: wanted.includes('lstm'), ngram: wanted.includes('ngram') } },
    '--models',
    {},
  );
  const scored: ScoredEvent[] = [];
  const result = await runEval({ train: path.join(out, 'train.log'), test: path.join(out, 'test.log'), config, onRow: (s) => scored.push(s) });
  const { stories: _s, novelties: _n, train: _t, test: _x, ...summary } = { ...set, ...result };
  process.stdout.write(`${JSON.stringify({ ...summary, testStory: undefined })}\n\n`);
  const attackIds = new Set(set.stories.map((s) => s.id));
  const groups = new Map<string, number[]>();
  set.testStory.forEach((id, i) => groups.set(id, [...(groups.get(id) ?? []), i]));
  for (const story of [...set.stories, ...set.novelties]) {
    const idx = groups.get(story.id) ?? [];
    const attack = attackIds.has(story.id);
    const hits = idx.filter((i) => scored[i].score !== null && (scored[i].score as number) < 0.3).length;
    const nulls = idx.filter((i) => scored[i].score === null).length;
    process.stdout.write(`### ${story.id} (${attack ? 'attack' : 'benign novelty, labelled normal'}): ${story.title}\n\n`);
    process.stdout.write(
      `${idx.length} rows on ${story.host}; ${attack ? `${hits} below 0.3` : `${hits} below 0.3 (false alarms)`}${nulls ? `; ${nulls} NULL` : ''}\n\n| score | subject | model | event | reasons |\n|---|---|---|---|---|\n`,
    );
    for (const i of idx) {
      const s = scored[i];
      process.stdout.write(
        `| ${s.score === null ? 'NULL' : s.score.toFixed(3)} | ${s.subject} | ${s.model || '—'} | \`${s.event.replace(/\|/g, '\\|')}\` | ${s.reasons.replace(/\|/g, '\\|').slice(0, 160)} |\n`,
      );
    }
    process.stdout.write('\n');
  }
  // one line per story, for the tables in docs/evaluation.md
  process.stdout.write('### summary\n\n| story | kind | rows | below 0.3 | NULL | scores |\n|---|---|---|---|---|---|\n');
  for (const story of [...set.stories, ...set.novelties]) {
    const idx = groups.get(story.id) ?? [];
    const scores = idx.map((i) => scored[i].score);
    const below = scores.filter((x) => x !== null && x < 0.3).length;
    const nulls = scores.filter((x) => x === null).length;
    process.stdout.write(
      `| ${story.id} | ${attackIds.has(story.id) ? 'attack' : 'benign'} | ${idx.length} | ${below} | ${nulls} | ${scores.map((x) => (x === null ? 'NULL' : x.toFixed(2))).join(' ')} |\n`,
    );
  }
  process.stdout.write('\n');
  // the normal rows one benign novelty brings can outweigh the routine's: the same metrics
  // with the attacks against the routine alone, and against the routine and each novelty
  const unit = (i: number) => ({
    score: scored[i].score,
    rank: scored[i].score === null ? -2 : -(scored[i].score as number),
    anomalous: attackIds.has(set.testStory[i]),
  });
  const subset = (name: string, keep: (id: string) => boolean) => {
    const m = metrics(
      set.testStory
        .map((id, i) => i)
        .filter((i) => keep(set.testStory[i]))
        .map(unit),
    );
    const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
    process.stdout.write(
      `| ${name} | ${m.n - m.anomalies} | ${m.recall.toFixed(3)} | ${m.auc.toFixed(4)} | ${pct(m.normal_below['0.3'])} / ${pct(m.normal_below['0.5'])} / ${pct(m.normal_below['0.7'])} |\n`,
    );
  };
  process.stdout.write('### subsets\n\n| normal rows | n | recall | AUC | normal < 0.3 / 0.5 / 0.7 |\n|---|---|---|---|---|\n');
  subset('all', () => true);
  subset('routine only', (id) => id === '' || attackIds.has(id));
  for (const n of set.novelties) subset(`routine + ${n.id}`, (id) => id === '' || id === n.id || attackIds.has(id));
  process.stdout.write('\n');
  const routine = set.testStory.map((id, i) => (id ? -1 : i)).filter((i) => i >= 0);
  const falseAlarms = routine.filter((i) => scored[i].score !== null && (scored[i].score as number) < 0.3);
  process.stdout.write(
    `### routine rows\n\n${routine.length} rows; ${falseAlarms.length} below 0.3; ${routine.filter((i) => scored[i].score === null).length} NULL\n\n`,
  );
  for (const i of falseAlarms)
    process.stdout.write(
      `- ${scored[i].score?.toFixed(3)} ${scored[i].subject}@${scored[i].host} \`${scored[i].event}\`: ${scored[i].reasons.slice(0, 200)}\n`,
    );
  process.stdout.write('\n');
  // the same logs by window, as anomaly_windows scores them; the report's incidents take bad
  // rows and bad windows together, so a story is found when either is
  const windows: ListedWindow[] = [];
  const byWindow = await runEval({
    train: path.join(out, 'train.log'),
    test: path.join(out, 'test.log'),
    config,
    unit: 'window',
    onWindow: (w, labelled) => windows.push({ ...w, ...labelled }),
  });
  process.stdout.write(windowReport(set, scored, windows, config.windows.seconds, byWindow));
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
