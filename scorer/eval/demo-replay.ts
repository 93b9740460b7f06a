import { generateDemo } from '../../demo/generate';
import { resolveConfig } from '../../conf/config';
import { parseResultLine } from '../parse/results';
import { Scorer } from '../scorer';
import { BAD_BELOW } from '../calibration';
import type { ResultRow, ScoredEvent } from '../types';

// node dist/scorer/eval/demo-replay.js [--end 2026-11-22] [--days 14] [--models rarity,ocsvm,lstm] [--stories]
// The demo's stream (`anomaly demo`, same seed, days and config) scored in-process by the
// scorer the extension runs, without the emulator and the extension's pacing: how many rows
// outside the attack stories are bad, and which. Minutes faster than the demo when the LSTM
// is left out, so a change to scoring can be judged on the whole fortnight, not only on the
// last day that `demo --eval-split` labels.

const DAY = 86400;
const BATCH = 50;

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
  };
  const models = arg('models', 'rarity,ocsvm').split(',');
  const end = Date.parse(`${arg('end', '2026-11-22')}T00:00:00Z`) / 1000 + DAY;
  const days = Number(arg('days', '14'));
  if (!Number.isInteger(days) || days < 4 || days > 60) throw new Error('--days must be a whole number from 4 to 60');
  const stream = generateDemo({ seed: 7, days, start: end - days * DAY, host: 'web-01', attacks: true });
  const config = resolveConfig(
    {
      learning: { min_events: 300, min_days: 3 },
      models: { rarity: models.includes('rarity'), ocsvm: models.includes('ocsvm'), lstm: models.includes('lstm') },
    },
    '--models',
    {},
  );
  const scorer = await Scorer.open({ config, stateDir: null });
  const storyOf = new Map<number, string>();
  for (const story of stream.stories) for (const line of story.lines) storyOf.set(line, story.name);
  const rows: { row: ResultRow; line: number }[] = [];
  stream.lines.forEach((text, line) => parseResultLine(text).forEach((row) => rows.push({ row, line })));
  const outside: ScoredEvent[] = [];
  const found = new Map<string, number>();
  const storyRows = new Map<string, ScoredEvent[]>();
  for (let k = 0; k < rows.length; k += BATCH) {
    const batch = rows.slice(k, k + BATCH);
    const scored = await scorer.scoreRows(batch.map((x) => x.row));
    scored.forEach((s, j) => {
      const story = storyOf.get(batch[j].line);
      if (story) storyRows.set(story, [...(storyRows.get(story) ?? []), s]);
      if (s.score === null || s.score >= BAD_BELOW) return;
      if (story) found.set(story, (found.get(story) ?? 0) + 1);
      else outside.push(s);
    });
  }
  const w = (s: string) => process.stdout.write(s);
  w(`${stream.lines.length} result lines, models ${models.join(', ')}\n`);
  const line = (s: ScoredEvent) =>
    `${new Date(s.time * 1000).toISOString().slice(0, 16)} ${s.subject} ${s.score === null ? 'NULL ' : s.score.toFixed(3)} ${s.model} ${s.event}: ${s.reasons.slice(0, 160)}\n`;
  for (const story of stream.stories) {
    const rows = storyRows.get(story.name) ?? [];
    w(`  ${story.name} (${story.user}): ${found.get(story.name) ?? 0} of ${rows.length} rows bad\n`);
    if (argv.includes('--stories')) for (const s of rows) w(`    ${line(s)}`);
  }
  w(`  ${outside.length} bad rows outside the attack stories\n`);
  for (const s of outside) w(`    ${line(s)}`);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
