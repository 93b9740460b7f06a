import type { ScoredEvent, ScoredWindow } from '../../types';
import type { ScenarioSet } from './generate';

// The scenario runner's report by window (main.ts --eval): the rows of a story may each look
// ordinary while their window does not, and the report's incidents take bad rows and bad
// windows together; so a story's detection is judged on both.

export type ListedWindow = ScoredWindow & { rows: number; anomalous: number };

/**
 * By window: each story's windows (those holding any of its rows) and the normal windows below
 * 0.3, with their reasons; and whether each story is found by the product as a whole, a bad
 * row or a bad window of one of the story's subjects (subject@host) between its first and last
 * row, which is what the report's incidents group (report/incidents.ts).
 */
export function windowReport(
  set: Pick<ScenarioSet, 'stories' | 'novelties' | 'testStory'>,
  rows: readonly ScoredEvent[],
  windows: readonly ListedWindow[],
  seconds: number,
  metricsByWindow: { n: number; anomalies: number; recall: number; auc: number; normal_below: Record<string, number> },
): string {
  const lines: string[] = [];
  const key = (subject: string, host: string, start: number) => `${subject}\u0000${host}\u0000${start}`;
  // which stories' rows each window holds
  const storiesIn = new Map<string, Map<string, number>>();
  rows.forEach((r, i) => {
    const k = key(r.subject, r.host, Math.floor(r.time / seconds) * seconds);
    const m = storiesIn.get(k) ?? storiesIn.set(k, new Map()).get(k)!;
    const id = set.testStory[i] || 'routine';
    m.set(id, (m.get(id) ?? 0) + 1);
  });
  const made = (w: ListedWindow) => [...(storiesIn.get(key(w.subject, w.host, w.start)) ?? [])].map(([id, n]) => `${id} ${n}`).join(', ');
  const bad = (x: number | null) => x !== null && x < 0.3;
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  lines.push(
    `### windows\n\n${metricsByWindow.n} windows (${metricsByWindow.anomalies} anomalous: most of their rows are); recall ${metricsByWindow.recall.toFixed(3)}, AUC ${metricsByWindow.auc.toFixed(4)}, normal < 0.3 / 0.5 / 0.7 ${pct(metricsByWindow.normal_below['0.3'])} / ${pct(metricsByWindow.normal_below['0.5'])} / ${pct(metricsByWindow.normal_below['0.7'])}\n\n`,
  );
  const attackIds = new Set(set.stories.map((s) => s.id));
  const summary: string[] = [];
  for (const story of [...set.stories, ...set.novelties]) {
    const idx = set.testStory.map((id, i) => (id === story.id ? i : -1)).filter((i) => i >= 0);
    if (!idx.length) continue;
    const subjects = new Set(idx.map((i) => `${rows[i].subject}\u0000${rows[i].host}`));
    const from = Math.min(...idx.map((i) => rows[i].time));
    const to = Math.max(...idx.map((i) => rows[i].time));
    const own = windows.filter((w) => (storiesIn.get(key(w.subject, w.host, w.start))?.get(story.id) ?? 0) > 0);
    // the product's view: any bad row or window of the story's subjects in the story's time
    const during = (subject: string, host: string) => subjects.has(`${subject}\u0000${host}`);
    const badRows = rows.filter((r) => during(r.subject, r.host) && r.time >= from && r.time <= to && bad(r.score)).length;
    const badWindows = windows.filter((w) => during(w.subject, w.host) && w.start <= to && w.end > from && bad(w.score)).length;
    const storyRowsBad = idx.filter((i) => bad(rows[i].score)).length;
    const attack = attackIds.has(story.id);
    lines.push(
      `#### windows of ${story.id} (${attack ? 'attack' : 'benign'})\n\n| start (UTC) | subject | score | decided by | rows (stories) | anomalous | reasons |\n|---|---|---|---|---|---|---|\n`,
    );
    for (const w of own)
      lines.push(
        `| ${new Date(w.start * 1000).toISOString().slice(5, 16)} | ${w.subject}@${w.host} | ${w.score === null ? 'NULL' : w.score.toFixed(3)} | ${w.model || '—'} | ${made(w)} | ${w.anomalous}/${w.rows} | ${w.reasons.replace(/\|/g, '\\|').slice(0, 200)} |\n`,
      );
    if (!own.length) lines.push('| (no window evaluated: the story falls in a window the test log cuts) | | | | | | |\n');
    lines.push('\n');
    const lowest = own.reduce((m, w) => (w.score !== null && w.score < m ? w.score : m), Infinity);
    const ownBad = own.filter((w) => bad(w.score)).length;
    const verdict = (found: boolean) => (found ? (attack ? 'found' : 'false alarm') : attack ? 'missed' : 'quiet');
    summary.push(
      `| ${story.id} | ${attack ? 'attack' : 'benign'} | ${storyRowsBad}/${idx.length} | ${ownBad}/${own.length} | ${own.filter((w) => w.verdict === 'ugly').length} | ${Number.isFinite(lowest) ? lowest.toFixed(3) : '—'} | ${verdict(storyRowsBad > 0)} | ${verdict(storyRowsBad + ownBad > 0)} | ${badRows} / ${badWindows} | ${verdict(badRows + badWindows > 0)} |\n`,
    );
  }
  lines.push(
    '### found by rows or windows\n\n' +
      "By rows: one of the story's rows is bad (< 0.3); by rows or windows: or a window holding one of its rows is; " +
      "the product: a bad row or window of one of the story's subjects (subject@host) between the story's first and last row, " +
      "whoever's doing it is (the report's incidents group those; over a long story another story's bad rows on the same subject count).\n\n" +
      '| story | kind | its rows < 0.3 | its windows < 0.3 | its windows 0.3-0.7 | lowest window | by rows | by rows or windows | bad rows / windows of its subjects then | the product |\n|---|---|---|---|---|---|---|---|---|---|\n',
    ...summary,
    '\n',
  );
  const normal = windows.filter((w) => w.anomalous * 2 <= w.rows);
  const falseBad = normal.filter((w) => bad(w.score));
  // a benign novelty's windows are new by design; the routine's are what calibration promises
  const novel = new Set(set.novelties.map((n) => n.id));
  const routine = normal.filter((w) => ![...(storiesIn.get(key(w.subject, w.host, w.start))?.keys() ?? [])].some((id) => novel.has(id)));
  const scoredRoutine = routine.filter((w) => w.score !== null);
  lines.push(
    `### normal windows below 0.3\n\n${falseBad.length} of ${normal.length}; of the ${routine.length} without a benign novelty's rows (${scoredRoutine.length} scored), ${routine.filter((w) => bad(w.score)).length} below 0.3, ${routine.filter((w) => w.score !== null && w.score < 0.5).length} below 0.5, ${routine.filter((w) => w.score !== null && w.score < 0.7).length} below 0.7\n\n`,
  );
  // the routine's windows between the lines: what decided them, and the least normal listed
  const pure = routine.filter((w) => w.score !== null && [...(storiesIn.get(key(w.subject, w.host, w.start))?.keys() ?? [])].every((id) => id === 'routine'));
  const below = (x: number) => pure.filter((w) => (w.score as number) < x);
  const by = new Map<string, number>();
  for (const w of below(0.7)) by.set(w.model, (by.get(w.model) ?? 0) + 1);
  lines.push(
    `Windows of the routine alone (no story's rows): ${pure.length} scored, ${below(0.3).length} / ${below(0.5).length} / ${below(0.7).length} below 0.3 / 0.5 / 0.7 (${pct(below(0.3).length / Math.max(1, pure.length))} / ${pct(below(0.5).length / Math.max(1, pure.length))} / ${pct(below(0.7).length / Math.max(1, pure.length))}); below 0.7 decided by ${[...by].map(([m, n]) => `${m} ${n}`).join(', ') || 'none'}\n\n`,
  );
  for (const w of below(0.5))
    lines.push(
      `- routine ${w.score?.toFixed(3)} ${w.subject}@${w.host} ${new Date(w.start * 1000).toISOString().slice(5, 16)} (${w.model}): ${w.reasons.slice(0, 200)}\n`,
    );
  for (const w of falseBad)
    lines.push(
      `- ${w.score?.toFixed(3)} ${w.subject}@${w.host} ${new Date(w.start * 1000).toISOString().slice(5, 16)} (${made(w)}; ${w.model}): ${w.reasons.slice(0, 240)}\n`,
    );
  lines.push('\n');
  return lines.join('');
}
